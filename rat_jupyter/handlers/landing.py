"""Landing zones: zones, files, samples, lifecycle (API-50..56)."""

from __future__ import annotations

from typing import Any

from ..core import models as m
from ..core.errors import Invalid, TooLarge
from .base import Op, RatAPIHandler, endpoint


def _one_upload(handler: RatAPIHandler) -> Any:
    files = handler.form()[1].get("file") or []
    if len(files) != 1:
        raise Invalid("exactly one multipart field 'file' is required")
    if len(files[0]["body"]) > handler.ws.settings.max_upload_bytes:
        raise TooLarge(f"file is larger than {handler.ws.settings.max_upload_bytes} bytes")
    return files[0]


class _UploadLimit(RatAPIHandler):
    def body_limit(self) -> int:
        return self.ws.settings.max_upload_bytes + 64 * 1024


class ZonesHandler(RatAPIHandler):
    ops = {"get": Op("listZones", "List landing zones with file counts and sizes", m.ListZonesResponse,
                     query=m.ListZonesQuery),
           "post": Op("createZone", "Create a landing zone", m.Zone, 201, body=m.CreateZone)}

    @endpoint
    async def get(self) -> None:
        args: m.ListZonesQuery = self.args()
        zones = await self.call(self.ws.list_zones, args.namespace)
        self.reply({"zones": zones[args.offset:args.offset + args.limit], "total": len(zones)})

    @endpoint
    async def post(self) -> None:
        body: m.CreateZone = self.body()
        await self.call(self.ws.landing.create, body)
        self.reply(await self.call(self.ws.get_zone, body.namespace, body.name))


class ZoneHandler(RatAPIHandler):
    ops = {"get": Op("getZone", "One landing zone", m.Zone),
           "put": Op("updateZone", "Update description, owner, expected_schema", m.Zone, body=m.UpdateZone),
           "delete": Op("deleteZone", "Delete the zone, its files and samples", status=204)}

    @endpoint
    async def get(self, ns: str, zone: str) -> None:
        self.reply(await self.call(self.ws.get_zone, ns, zone))

    @endpoint
    async def put(self, ns: str, zone: str) -> None:
        body: m.UpdateZone = self.body()
        self.reply(await self.call(self.ws.landing.update, ns, zone, body))

    @endpoint
    async def delete(self, ns: str, zone: str) -> None:
        await self.call(self.ws.delete_zone, ns, zone)
        self.no_content()


class ZoneFilesHandler(_UploadLimit):
    ops = {"get": Op("listZoneFiles", "Files uploaded to the zone", m.ListLandingFilesResponse, query=m.Page),
           "post": Op("uploadZoneFile", "Upload a file (multipart 'file', ≤ max_upload_bytes)", m.LandingFile, 201,
                      multipart=m.Upload)}

    @endpoint
    async def get(self, ns: str, zone: str) -> None:
        args: m.Page = self.args()
        files = await self.call(self.ws.list_landing_files, ns, zone)
        self.reply({"files": files[args.offset:args.offset + args.limit], "total": len(files)})

    @endpoint
    async def post(self, ns: str, zone: str) -> None:
        upload = _one_upload(self)
        row = await self.call(self.ws.upload_landing_file, ns, zone, upload["filename"], upload["body"],
                              upload.get("content_type"))
        self.reply(row)


class ZoneFileHandler(RatAPIHandler):
    ops = {"get": Op("getZoneFile", "One landing file's metadata", m.LandingFile),
           "delete": Op("deleteZoneFile", "Delete a landing file", status=204)}

    @endpoint
    async def get(self, ns: str, zone: str, file_id: str) -> None:
        self.reply(await self.call(self.ws.get_landing_file, ns, zone, file_id))

    @endpoint
    async def delete(self, ns: str, zone: str, file_id: str) -> None:
        await self.call(self.ws.delete_landing_file, ns, zone, file_id)
        self.no_content()


class SamplesHandler(_UploadLimit):
    ops = {"get": Op("listSamples", "Curated sample files (used by previews)", m.ListSamplesResponse),
           "post": Op("uploadSample", "Upload a sample (keeps its name)", m.StoredFile, 201, multipart=m.Upload)}

    @endpoint
    async def get(self, ns: str, zone: str) -> None:
        samples = await self.call(self.ws.list_samples, ns, zone)
        self.reply({"samples": samples, "total": len(samples)})

    @endpoint
    async def post(self, ns: str, zone: str) -> None:
        upload = _one_upload(self)
        self.reply(await self.call(self.ws.upload_sample, ns, zone, upload["filename"], upload["body"]))


class SampleHandler(RatAPIHandler):
    ops = {"delete": Op("deleteSample", "Delete a sample file", status=204)}

    @endpoint
    async def delete(self, ns: str, zone: str, filename: str) -> None:
        await self.call(self.ws.delete_sample, ns, zone, filename)
        self.no_content()


class LifecycleHandler(RatAPIHandler):
    ops = {"get": Op("getZoneLifecycle", "Processed-file lifecycle", m.Lifecycle),
           "put": Op("updateZoneLifecycle", "Set processed_max_age_days and auto_purge", m.Lifecycle,
                     body=m.UpdateLifecycle)}

    @endpoint
    async def get(self, ns: str, zone: str) -> None:
        self.reply(await self.call(self.ws.zone_lifecycle, ns, zone))

    @endpoint
    async def put(self, ns: str, zone: str) -> None:
        body: m.UpdateLifecycle = self.body()
        self.reply(await self.call(self.ws.landing.lifecycle, ns, zone, body))
