"""The "RAT SQL" Jupyter kernel: every cell is Jinja SQL over the lakehouse, compiled like a pipeline.

It subclasses ipykernel's plain :class:`~ipykernel.kernelbase.Kernel`, not the IPython kernel: there is
no Python to run, and skipping IPython's machinery is what keeps a cell's overhead below a Python
cell's. All SQL work happens in :class:`~rat_jupyter.kernel.session.NotebookSession`, shared with the
``%rat`` magics.
"""

from __future__ import annotations

import html
from typing import Any

import duckdb
from ipykernel.kernelbase import Kernel
from traitlets import Float, Integer

from .. import __version__
from ..core.errors import RatError
from .display import mime_bundle
from .session import DEFAULT_DISPLAY_LIMIT, CellError, NotebookSession


class RatKernel(Kernel):
    """Runs SQL cells against the catalog; see ``docs/notebooks.md`` for the cell directives."""

    implementation = "rat_sql"
    implementation_version = __version__
    language = "sql"
    language_version = duckdb.__version__
    language_info = {
        "name": "sql",
        "version": duckdb.__version__,
        "mimetype": "text/x-sql",
        "file_extension": ".sql",
        "codemirror_mode": "sql",
        "pygments_lexer": "sql",
    }
    banner = (f"RAT SQL {__version__} — Jinja SQL on DuckDB {duckdb.__version__} over Iceberg tables.\n"
              "{{ ref('layer.name') }} reads a table; -- @name: foo keeps a result; %namespace, %limit, %compile.")

    # ipykernel sleeps this long before each reply so IPython's threaded stdout can flush first. This kernel
    # never writes to stdout: its outputs go straight to iopub, ordered before the idle status clients wait for.
    _execute_sleep = Float(0.0).tag(config=True)
    display_limit = Integer(DEFAULT_DISPLAY_LIMIT, help="Rows shown per result (the whole result is kept).").tag(
        config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rat: NotebookSession | None = None

    @property
    def rat(self) -> NotebookSession:
        """Opened on the first cell, so the kernel starts (and answers kernel_info) without touching the catalog."""
        if self._rat is None:
            self._rat = NotebookSession(display_limit=self.display_limit)
        return self._rat

    # -- execute --------------------------------------------------------------------------------------
    async def do_execute(self, code: str, silent: bool, store_history: bool = True,
                         user_expressions: dict[str, Any] | None = None, allow_stdin: bool = False,
                         *, cell_meta: dict[str, Any] | None = None, cell_id: str | None = None) -> dict[str, Any]:
        ok = {"status": "ok", "execution_count": self.execution_count, "payload": [], "user_expressions": {}}
        if not code.strip():
            return ok
        try:
            result = self.rat.run(code)
        except CellError as exc:
            return self._error(exc.ename, exc.message, silent)
        except RatError as exc:
            return self._error(type(exc).__name__, exc.message, silent)
        except KeyboardInterrupt:
            self.rat.interrupt()
            return self._error("KeyboardInterrupt", "interrupted", silent)
        except Exception as exc:  # noqa: BLE001 - the kernel boundary: a reply must always be sent, one line
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            if isinstance(exc, duckdb.InterruptException) or "interrupted" in message.lower():
                # an interrupt that landed in DuckDB work outside the query itself (view refresh, probes)
                self.rat.interrupt()
                return self._error("KeyboardInterrupt", "interrupted", silent)
            return self._error(type(exc).__name__, message, silent)
        if silent:
            return ok
        if result.messages:
            self._stream("\n".join(result.messages) + "\n")
        if result.compiled_only:
            sql = result.sql.strip()
            data = {"text/plain": sql, "text/html": f'<pre><code class="language-sql">{html.escape(sql)}</code></pre>'}
            self.send_response(self.iopub_socket, "display_data", {"data": data, "metadata": {}})
        elif result.table is not None:
            bundle = mime_bundle(result.table, limit=result.limit, types=result.types, name=result.name,
                                 elapsed_ms=result.elapsed_ms)
            self.send_response(self.iopub_socket, "execute_result",
                               {"execution_count": self.execution_count, "data": bundle, "metadata": {}})
        return ok

    def _stream(self, text: str, name: str = "stdout") -> None:
        self.send_response(self.iopub_socket, "stream", {"name": name, "text": text})

    def _error(self, ename: str, message: str, silent: bool) -> dict[str, Any]:
        """One line, no traceback: the message already says what and which line."""
        content = {"ename": ename, "evalue": message, "traceback": [f"\x1b[0;31m{ename}\x1b[0m: {message}"]}
        if not silent:
            self.send_response(self.iopub_socket, "error", content)
        return {"status": "error", "execution_count": self.execution_count, **content}

    # -- complete -------------------------------------------------------------------------------------
    async def do_complete(self, code: str, cursor_pos: int | None) -> dict[str, Any]:
        pos = len(code) if cursor_pos is None else cursor_pos
        try:
            matches, start, end = self.rat.complete(code, pos)
        except (RatError, duckdb.Error):
            matches, start, end = [], pos, pos
        return {"status": "ok", "matches": matches, "cursor_start": start, "cursor_end": end, "metadata": {}}

    async def do_shutdown(self, restart: bool) -> dict[str, Any]:
        if self._rat is not None:
            self._rat.close()
            self._rat = None
        return {"status": "ok", "restart": restart}
