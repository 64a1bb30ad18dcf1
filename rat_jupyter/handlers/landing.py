"""Landing zones: zones, files, samples, lifecycle (API-50..56)."""

from __future__ import annotations

from typing import Any

from ..core.errors import Invalid, TooLarge
from .base import RatAPIHandler, endpoint


def _one_upload(handler: RatAPIHandler) -> dict[str, Any]:
    files = handler.request.files.get("file") or []
    if len(files) != 1:
        raise Invalid("exactly one multipart field 'file' is required")
    if len(files[0]["body"]) > handler.ws.settings.max_upload_bytes:
        raise TooLarge(f"file is larger than {handler.ws.settings.max_upload_bytes} bytes")
    return files[0]


class _UploadLimit(RatAPIHandler):
    multipart = True

    def body_limit(self) -> int:
        return self.ws.settings.max_upload_bytes + 64 * 1024


class ZonesHandler(RatAPIHandler):
    summary = {"get": "List landing zones with file counts and sizes", "post": "Create a landing zone"}

    @endpoint
    async def get(self) -> None:
        limit, offset = self.page()
        zones = await self.call(self.ws.list_zones, self.arg("namespace"))
        self.write_json({"zones": zones[offset:offset + limit], "total": len(zones)})

    @endpoint
    async def post(self) -> None:
        body = self.body({"namespace", "name", "description"}, {"namespace", "name"})
        description = body.get("description") or ""
        if not isinstance(description, str) or len(description) > 5000:
            raise Invalid("description must be text of at most 5000 characters")
        self.created(await self.call(self.ws.create_landing_zone, body["namespace"], body["name"], description))


class ZoneHandler(RatAPIHandler):
    summary = {"get": "One landing zone", "put": "Update description, owner, expected_schema",
               "delete": "Delete the zone, its files and samples"}

    @endpoint
    async def get(self, ns: str, zone: str) -> None:
        self.write_json(await self.call(self.ws.get_zone, ns, zone))

    @endpoint
    async def put(self, ns: str, zone: str) -> None:
        body = self.body({"description", "owner", "expected_schema"})
        self.write_json(await self.call(self.ws.update_zone, ns, zone, **body))

    @endpoint
    async def delete(self, ns: str, zone: str) -> None:
        await self.call(self.ws.delete_zone, ns, zone)
        self.no_content()


class ZoneFilesHandler(_UploadLimit):
    summary = {"get": "Files uploaded to the zone", "post": "Upload a file (multipart 'file', ≤ 32 MB)"}

    @endpoint
    async def get(self, ns: str, zone: str) -> None:
        limit, offset = self.page()
        files = await self.call(self.ws.list_landing_files, ns, zone)
        self.write_json({"files": files[offset:offset + limit], "total": len(files)})

    @endpoint
    async def post(self, ns: str, zone: str) -> None:
        upload = _one_upload(self)
        row = await self.call(self.ws.upload_landing_file, ns, zone, upload["filename"], upload["body"],
                              upload.get("content_type"))
        self.created(row)


class ZoneFileHandler(RatAPIHandler):
    summary = {"get": "One landing file's metadata", "delete": "Delete a landing file"}

    @endpoint
    async def get(self, ns: str, zone: str, file_id: str) -> None:
        self.write_json(await self.call(self.ws.get_landing_file, ns, zone, file_id))

    @endpoint
    async def delete(self, ns: str, zone: str, file_id: str) -> None:
        await self.call(self.ws.delete_landing_file, ns, zone, file_id)
        self.no_content()


class SamplesHandler(_UploadLimit):
    summary = {"get": "Curated sample files (used by previews)", "post": "Upload a sample (keeps its name)"}

    @endpoint
    async def get(self, ns: str, zone: str) -> None:
        samples = await self.call(self.ws.list_samples, ns, zone)
        self.write_json({"samples": samples, "total": len(samples)})

    @endpoint
    async def post(self, ns: str, zone: str) -> None:
        upload = _one_upload(self)
        self.created(await self.call(self.ws.upload_sample, ns, zone, upload["filename"], upload["body"]))


class SampleHandler(RatAPIHandler):
    summary = {"delete": "Delete a sample file"}

    @endpoint
    async def delete(self, ns: str, zone: str, filename: str) -> None:
        await self.call(self.ws.delete_sample, ns, zone, filename)
        self.no_content()


class LifecycleHandler(RatAPIHandler):
    summary = {"get": "Processed-file lifecycle", "put": "Set processed_max_age_days and auto_purge"}

    @endpoint
    async def get(self, ns: str, zone: str) -> None:
        self.write_json(await self.call(self.ws.zone_lifecycle, ns, zone))

    @endpoint
    async def put(self, ns: str, zone: str) -> None:
        body = self.body({"processed_max_age_days", "auto_purge"})
        self.write_json(await self.call(self.ws.zone_lifecycle, ns, zone, **body))
