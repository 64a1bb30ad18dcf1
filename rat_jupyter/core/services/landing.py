"""Landing zones: where raw files arrive for bronze pipelines — zones, their uploaded files, curated samples
(what a preview's ``landing_zone()`` reads) and the lifecycle of processed files.

An upload notifies the upload listeners (file-pattern and landing triggers) after it is stored; a listener's
failure never fails the upload.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import TooLarge
from ..models import CreateZone, UpdateLifecycle, UpdateZone
from ..names import validate_name, validate_namespace
from .base import Service, run_id, safe_filename, zone_key

if TYPE_CHECKING:
    from ..workspace import Workspace

UploadListener = Callable[[str, str, str], None]


class LandingService(Service):
    def __init__(self, ws: Workspace) -> None:
        super().__init__(ws)
        self.upload_listeners: list[UploadListener] = []

    # -- zones --------------------------------------------------------------------------------------
    def create(self, req: CreateZone) -> dict[str, Any]:
        validate_namespace(req.namespace)
        self.state.get_namespace(req.namespace)
        return self.state.create_zone(req.namespace, validate_name(req.name, "landing zone"), req.description)

    def list(self, namespace: str | None = None) -> list[dict[str, Any]]:
        if namespace:
            validate_namespace(namespace)
        return [self._stats(zone) for zone in self.state.list_zones(namespace)]

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        zone_key(namespace, name)
        return self._stats(self.state.get_zone(namespace, name))

    def _stats(self, zone: dict[str, Any]) -> dict[str, Any]:
        """A zone with the count and size of its landing files (not ``_samples/`` or ``_processed/``)."""
        prefix = f"{zone['namespace']}/landing/{zone['name']}/"
        files = [f for f in self.storage.list(prefix) if not f.path[len(prefix):].startswith("_")]
        return {**zone, "file_count": len(files), "total_bytes": sum(f.size for f in files)}

    def update(self, namespace: str, name: str, req: UpdateZone) -> dict[str, Any]:
        zone_key(namespace, name)
        changes = req.model_dump(exclude_unset=True, exclude_none=True)
        self.state.update_zone(namespace, name, **changes)
        return self.get(namespace, name)

    def delete(self, namespace: str, name: str) -> None:
        zone_key(namespace, name)
        self.state.get_zone(namespace, name)
        self.storage.delete_prefix(f"{namespace}/landing/{name}/")
        self.state.delete_zone(namespace, name)

    def lifecycle(self, namespace: str, name: str, req: UpdateLifecycle | None = None) -> dict[str, Any]:
        """How long processed files are kept and whether they are purged; changed by ``req`` when given."""
        zone_key(namespace, name)
        fields: dict[str, Any] = {}
        if req is not None and req.processed_max_age_days is not None:
            fields["processed_max_age_days"] = req.processed_max_age_days
        if req is not None and req.auto_purge is not None:
            fields["auto_purge"] = int(req.auto_purge)
        zone = self.state.update_zone(namespace, name, **fields)
        return {"processed_max_age_days": zone["processed_max_age_days"], "auto_purge": zone["auto_purge"]}

    # -- landing files ------------------------------------------------------------------------------
    def list_files(self, namespace: str, zone: str) -> list[dict[str, Any]]:
        zone_key(namespace, zone)
        self.state.get_zone(namespace, zone)
        return self.state.list_landing_files(namespace, zone)

    def get_file(self, namespace: str, zone: str, file_id: str) -> dict[str, Any]:
        zone_key(namespace, zone)
        return self.state.get_landing_file(namespace, zone, run_id(file_id))

    def delete_file(self, namespace: str, zone: str, file_id: str) -> None:
        row = self.get_file(namespace, zone, file_id)
        if self.storage.exists(row["path"]):
            self.storage.delete(row["path"])
        self.state.delete_landing_file(row["id"])

    def upload(self, namespace: str, zone: str, filename: str, data: bytes, content_type: str | None = None,
               *, stamp: bool = True) -> dict[str, Any]:
        """Store an uploaded file (its name prefixed with the upload time unless ``stamp`` is false)."""
        zone_key(namespace, zone)
        self.state.get_zone(namespace, zone)
        base = safe_filename(filename)
        self._check_size(data)
        stored = f"{datetime.now(UTC):%Y%m%d_%H%M%S}_{base}" if stamp else base
        path = f"{namespace}/landing/{zone}/{stored}"
        # The record first: a run can only archive a file that exists, so by then its record is there for
        # the run to forget. Recorded after the write, a run archiving in between forgot records before this
        # one existed, and the file stayed listed as waiting after it was read.
        row = self.state.add_landing_file(namespace, zone, base, path, len(data), content_type)
        try:
            self.storage.write(path, data)
        except BaseException:
            self.state.delete_landing_file(row["id"])  # nothing was stored: nothing may be listed
            raise
        for listener in list(self.upload_listeners):
            try:
                listener(namespace, zone, base)
            except Exception:  # noqa: BLE001 - a trigger problem must not fail the upload
                pass
        return row

    def _check_size(self, data: bytes) -> None:
        if len(data) > self.settings.max_upload_bytes:
            raise TooLarge(f"file is larger than {self.settings.max_upload_bytes} bytes")

    # -- samples ------------------------------------------------------------------------------------
    def list_samples(self, namespace: str, zone: str) -> list[dict[str, Any]]:
        zone_key(namespace, zone)
        self.state.get_zone(namespace, zone)
        return [f.to_dict() for f in self.storage.list(f"{namespace}/landing/{zone}/_samples/")]

    def upload_sample(self, namespace: str, zone: str, filename: str, data: bytes) -> dict[str, Any]:
        zone_key(namespace, zone)
        self.state.get_zone(namespace, zone)
        base = safe_filename(filename)
        self._check_size(data)
        return self.storage.write(f"{namespace}/landing/{zone}/_samples/{base}", data).to_dict()

    def delete_sample(self, namespace: str, zone: str, filename: str) -> None:
        zone_key(namespace, zone)
        self.storage.delete(f"{namespace}/landing/{zone}/_samples/{safe_filename(filename)}")
