"""Dry runs and test runs: tasks on the executor that write nothing, under an admission limit.

Both return a ``Future`` the REST layer awaits (no thread waits on a worker). Beyond
``max_inflight_previews`` queued or running ones the answer is ``RateLimited`` (429) at once, rather than a
queue that grows without bound.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ..errors import Invalid, NotFound, RateLimited, Unavailable
from ..executor import WorkerDied
from ..ids import new_id
from ..models import PreviewPipeline, RunTests
from ..names import PipelineId
from ..pipelines import SOURCE_FILES
from .base import Service

if TYPE_CHECKING:
    from ..workspace import Workspace


class PreviewService(Service):
    def __init__(self, ws: Workspace) -> None:
        super().__init__(ws)
        self._lock = threading.Lock()
        self.inflight = 0  # previews and test runs queued or running

    def preview(self, pid: PipelineId, req: PreviewPipeline, limit: int = 100) -> Future:
        """Render and execute the draft, a version or inline code; nothing is written. ``landing_zone()``
        reads a zone's ``_samples/`` when it has any (``sample_files``). ``limit`` applies when the request
        names none (the REST layer's query parameter)."""
        self.state.get_pipeline(*pid.table_identifier)
        rows = req.limit if req.limit is not None else limit
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
            raise Invalid("limit must be a positive integer")
        files, _ = self.ws.files.of_version(pid, req.version)
        if req.code is not None:
            src = next((s for s in SOURCE_FILES if s in files), "pipeline.sql")
            files = {**files, src: req.code}
        return self.submit("preview", {"pipeline": pid.table_identifier, "files": files,
                                       "limit": min(rows, 1000), "sample_files": req.sample_files})

    def run_tests(self, pid: PipelineId, req: RunTests) -> Future:
        """Run the tests for real against the table as published now (``this`` = main); the results are
        recorded as the pipeline's latest quality results."""
        self.state.get_pipeline(*pid.table_identifier)
        files, _ = self.ws.files.of_version(pid, req.version)

        def finish(out: dict[str, Any]) -> dict[str, Any]:
            if "error" in out:
                raise NotFound(out["error"]) if out.get("status") == 404 else Invalid(out["error"])
            results = out["results"]
            self.state.save_quality_results(None, *pid.table_identifier, results)
            failed = sum(r["status"] != "pass" for r in results)
            return {"results": results, "passed": len(results) - failed, "failed": failed, "total": len(results)}

        return self.submit("tests", {"pipeline": pid.table_identifier, "files": files, "names": req.tests},
                           finish)

    def submit(self, kind: str, payload: dict[str, Any], finish: Any = None) -> Future:
        """Submit a preview or test run under the admission limit; the result Future has ``finish`` applied."""
        limit = int(getattr(self.settings, "max_inflight_previews", 16))
        with self._lock:
            if self.inflight >= limit:
                raise RateLimited(f"{self.inflight} previews and test runs are already queued or running "
                                  f"(the limit is {limit}); try again when one has finished")
            self.inflight += 1
        try:
            inner = self.ws.executor.submit(f"{kind}-{new_id()}", kind, payload,
                                            timeout=self.settings.run_timeout_seconds)
        except BaseException:
            with self._lock:
                self.inflight -= 1
            raise
        outer: Future = Future()

        def done(fut: Future) -> None:
            with self._lock:
                self.inflight -= 1
            try:
                result = fut.result()
                outer.set_result(finish(result) if finish else result)
            except WorkerDied as exc:
                outer.set_exception(Unavailable(f"the {kind} did not finish: {exc}"))
            except BaseException as exc:  # noqa: BLE001 - delivered to whoever awaits the future
                outer.set_exception(exc)

        inner.add_done_callback(done)
        return outer
