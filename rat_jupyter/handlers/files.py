"""Storage files — the editor's backend (API-39..43)."""

from __future__ import annotations

import mimetypes

from ..core import models as m
from ..core.errors import Invalid, TooLarge
from .base import Op, RatAPIHandler, endpoint


def _raw_arg(values: dict[str, list[bytes]], name: str) -> str:
    """A form argument exactly as sent. Tornado's accessors replace control characters with spaces, which
    would turn an invalid path (a NUL byte in ``shop/<NUL>.txt``) into a different, valid one instead of a 400."""
    raw = values.get(name)
    if not raw:
        return ""
    try:
        return raw[-1].decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid(f"'{name}' must be UTF-8 text") from None


class FilesHandler(RatAPIHandler):
    ops = {"get": Op("listFiles", "List files under a prefix (required; starts with a namespace); "
                                  "exclude=seg1,seg2", m.ListFilesResponse, query=m.FilesQuery)}

    @endpoint
    async def get(self) -> None:
        args: m.FilesQuery = self.args()
        exclude = [s for s in (args.exclude or "").split(",") if s]
        self.reply({"files": await self.call(self.ws.list_files, args.prefix, exclude)})


class FileHandler(RatAPIHandler):
    ops = {"get": Op("getFile", "Read a text file as JSON, or any file's bytes with ?download=1", m.FileContent,
                     query=m.FileQuery, alt=(("application/octet-stream", "the file's bytes (?download=1)"),)),
           "put": Op("writeFile", "Write a file (pipeline files are validated first)", m.WrittenFile,
                     body=m.WriteFile),
           "delete": Op("deleteFile", "Delete a file", status=204)}

    def body_limit(self) -> int:
        return self.ws.settings.max_upload_bytes

    @endpoint
    async def get(self, path: str) -> None:
        args: m.FileQuery = self.args()
        if args.download in ("1", "true"):
            data, info = await self.call(self.ws.read_bytes, path)
            name = info["path"].rsplit("/", 1)[-1].replace('"', "")
            self.set_header("Content-Type", mimetypes.guess_type(name)[0] or "application/octet-stream")
            self.set_header("Content-Disposition", f'attachment; filename="{name}"')
            self.set_header("X-Content-Type-Options", "nosniff")
            self.finish(data)
            return
        self.reply(await self.call(self.ws.read_file, path))

    @endpoint
    async def put(self, path: str) -> None:
        body: m.WriteFile = self.body()
        self.reply(await self.call(self.ws.write_file, path, body.content))

    @endpoint
    async def delete(self, path: str) -> None:
        await self.call(self.ws.delete_file, path)
        self.no_content()


class UploadHandler(RatAPIHandler):
    ops = {"post": Op("uploadFile", "Multipart upload: fields 'path' (target folder or file path) and 'file' "
                                    "(≤ max_upload_bytes)", m.UploadedFile, 201, multipart=m.FileUpload)}

    def body_limit(self) -> int:
        return self.ws.settings.max_upload_bytes + 64 * 1024

    @endpoint
    async def post(self) -> None:
        fields, uploads = self.form()
        files = uploads.get("file") or []
        if len(files) != 1:
            raise Invalid("exactly one multipart field 'file' is required")
        upload = files[0]
        if len(upload["body"]) > self.ws.settings.max_upload_bytes:
            raise TooLarge(f"file is larger than {self.ws.settings.max_upload_bytes} bytes")
        path = _raw_arg(fields, "path")
        if not path:
            raise Invalid("multipart field 'path' is required")
        if path.endswith("/"):
            path = path + (upload["filename"] or "").replace("\\", "/").rsplit("/", 1)[-1]
        out = await self.call(self.ws.write_file, path, upload["body"])
        self.reply({**out, "filename": upload["filename"], "status": "uploaded"})
