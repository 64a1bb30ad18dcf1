"""The ``%rat`` IPython magics: the lakehouse from a Python notebook.

``%%rat sql`` runs a cell through the same :class:`~rat_jupyter.kernel.session.NotebookSession` as the RAT
SQL kernel, so SQL behaves identically in both. The other subcommands call the
:class:`~rat_jupyter.core.workspace.Workspace` facade, opened by :func:`~rat_jupyter.kernel.frontdoor.
open_workspace`: inside a Jupyter server's kernel it is a client (``%rat run`` submits pending runs the
server executes and follows their logs; no worker process starts in the kernel), without a server it is
local mode (the process executes its own runs, and says so).
"""

from __future__ import annotations

import argparse
import atexit
import re
import shlex
import signal
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import pyarrow as pa
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from traitlets import Bool, Enum, Float, Integer, Unicode, observe

from ..core.errors import Conflict, RatError
from ..core.names import PipelineId
from ..core.settings import Settings
from .commands import PENDING_HINT_SECONDS, TERMINAL, JobCommands, notebook_user
from .display import STATUS_COLOURS, Rich, html_listing, mime_bundle
from .frontdoor import FrontDoor, open_workspace
from .lineage import lineage_svg
from .session import DEFAULT_DISPLAY_LIMIT, CellError, NotebookSession, arrow_to_pandas
from .suggest import check_namespace, check_pipeline, check_selection

if TYPE_CHECKING:
    from ..core.workspace import Workspace

UNSUCCESSFUL = ("failed", "cancelled", "skipped")
USAGE = """\
%rat — the RAT lakehouse from a notebook:
  %%rat sql [--out NAME] [--namespace NS]        run the cell as Jinja SQL; shows a table, --out keeps it
  df = %rat sql [--namespace NS] SELECT ...      the result as pandas (RatMagics.output: polars, arrow)
  %%rat pipeline PIPELINE [--type sql|python] [--publish] [-m MESSAGE]
                                                 create or update a pipeline from the cell (annotations included)
  %%rat test PIPELINE TEST [--severity error|warn] [--run]   add or update a quality test from the cell
  %rat run SELECTION [--draft] [--verbose]       run pipelines: ns.layer.name, ns.layer.name+ (downstream), ns.*
  %rat runs [NS|PIPELINE] [--status S] [--trigger T] [--limit N]   run history: status, trigger, duration
  %rat logs RUN|last [--level L] [--follow]      a run's log lines; --follow until the run ends
  %rat cancel RUN|last                           cancel a pending or running run
  %rat ls [NS]                                   pipelines: layer, type, published version, last run
  %rat preview PIPELINE [--limit N] [--published]  dry-run a pipeline, show its first rows
  %rat tests PIPELINE [--published]              run a pipeline's quality tests
  %rat lineage [NS]                              the pipeline DAG as a picture
  %rat diff PIPELINE [--version N]               the draft against the published version
  %rat publish PIPELINE [-m MESSAGE] [--dry-run] show the diff, then publish the draft as a new version
  %rat schedule [list [NS] | create PIPELINE CRON [--timezone TZ] | enable ID | disable ID | delete ID]
  %rat namespace [list | create NAME]            namespaces
  %rat notebook PIPELINE [--path FILE]           write a notebook on the pipeline's SQL and quality tests
Settings: %config RatMagics.display_limit = 20 | .output = "pandas"|"polars"|"arrow" | .namespace = "ns"
          | .raise_on_failure = False (a failed %rat run does not stop "Run All")
          | .workers = 1 (local mode only: worker processes for runs, set before the first %rat)"""
CELL_COMMANDS = ("sql", "pipeline", "test")  # the subcommands whose cell body is their input
_SQL_OPTION_RE = re.compile(r"^\s*(--out|--namespace|-o|-n)(?:=|\s+)(\S+)")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a mistake as a short usage error instead of exiting the kernel."""

    def error(self, message: str) -> NoReturn:
        raise CellError(f"{message}\n{self.format_usage().strip()}", ename="UsageError")


def _parser(name: str) -> _Parser:
    return _Parser(prog=f"%rat {name}", add_help=False)


class RunFailed(CellError):
    """``%rat run`` ended with failed, cancelled or skipped runs: one short line, so "Run All" stops there.

    ``runs`` are the :class:`~rat_jupyter.core.workspace.RunView` of every run the command started.
    """

    def __init__(self, message: str, runs: list[Any]) -> None:
        super().__init__(message, ename="RunFailed")
        self.runs = runs


class _Progress:
    """A progress bar: ``tqdm.auto`` when installed, else an HTML bar updated in place in the output."""

    def __init__(self, total: int, label: str) -> None:
        self.total = total
        self.label = label
        self._last: tuple[int, str] | None = None
        self._tqdm: Any = None
        self._id = f"rat-progress-{uuid.uuid4().hex}"
        try:
            from tqdm.auto import tqdm
        except ImportError:
            from IPython.display import display

            display(self._bundle(0, "starting"), raw=True, display_id=self._id)
        else:
            self._tqdm = tqdm(total=total, desc=label, unit="run")

    def _bundle(self, done: int, text: str, failed: bool = False) -> dict[str, str]:
        pct = 100 * done / max(1, self.total)
        colour = STATUS_COLOURS["failed"] if failed else STATUS_COLOURS["running" if done < self.total else "success"]
        filled = round(pct / 5)
        return {
            "text/plain": f"{self.label} [{'#' * filled}{'.' * (20 - filled)}] {done}/{self.total} {text}",
            "text/html": ('<div style="font:12px sans-serif;margin:2px 0"><div style="display:inline-block;width:280px;'
                          'height:10px;background:#eaeef2;border-radius:5px;overflow:hidden;vertical-align:middle">'
                          f'<div style="width:{pct:.0f}%;height:100%;background:{colour}"></div></div> '
                          f"<span>{self.label}: {done}/{self.total} · {text}</span></div>"),
        }

    def update(self, done: int, text: str, failed: bool = False) -> None:
        if (done, text) == self._last:
            return
        self._last = (done, text)
        if self._tqdm is not None:
            self._tqdm.update(done - self._tqdm.n)
            self._tqdm.set_postfix_str(text, refresh=True)
        else:
            from IPython.display import update_display

            update_display(self._bundle(done, text, failed), raw=True, display_id=self._id)

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()


@magics_class
class RatMagics(JobCommands, Magics):
    """``%rat`` / ``%%rat``. Configurable with ``%config RatMagics.<trait> = value``."""

    display_limit = Integer(DEFAULT_DISPLAY_LIMIT, help="Rows shown per result (the whole result is kept).").tag(
        config=True)
    output = Enum(["pandas", "polars", "arrow"], default_value="pandas",
                  help="What `df = %rat sql ...` and `--out` return.").tag(config=True)
    namespace = Unicode(None, allow_none=True, help="Namespace for `layer.name` refs (default: the first one, "
                                                    "or $RAT_NAMESPACE).").tag(config=True)
    workers = Integer(0, help="Local mode only: worker processes for %rat run (0: the RAT default). "
                              "Read when the first %rat command opens the workspace.").tag(config=True)
    poll_interval = Float(0.2, help="Seconds between polls of a run's log while %rat run waits.").tag(config=True)
    raise_on_failure = Bool(True, help="%rat run raises RunFailed when a run fails, is cancelled or skipped, so "
                                       "'Run All' stops at that cell.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._session: NotebookSession | None = None
        self._door: FrontDoor | None = None
        self._pool_ready = False
        self.last_runs: list[Any] = []  # the runs of the last %rat run, also when it raised RunFailed

    @property
    def door(self) -> FrontDoor:
        """Client of the server that started this kernel, or local mode (see :mod:`.frontdoor`)."""
        if self._door is None:
            settings = Settings.from_env()
            if self.workers > 0:
                settings = settings.with_(concurrency=self.workers)
            self._door = open_workspace(settings, announce=lambda text: print(text, flush=True))
            atexit.register(self.close)
        return self._door

    @property
    def session(self) -> NotebookSession:
        """Opened by the first ``%rat``: loading the extension costs nothing until it is used."""
        if self._session is None:
            door = self.door
            self._session = NotebookSession(door.workspace.settings, namespace=self.namespace,
                                            display_limit=self.display_limit, workspace=door.workspace)
        return self._session

    @property
    def workspace(self) -> Workspace:
        """The workspace, ready to take runs, previews and tests.

        In local mode it executes runs on worker processes of its own. Jupyter interrupts a kernel by sending
        SIGINT to its whole process group, which includes the worker processes, so they are started while
        SIGINT is ignored, which they inherit: interrupting a cell then stops only the cell, and ``%rat run``
        cancels its runs through the state store instead. A client starts no worker process at all.
        """
        ws = self.session.workspace
        if not self._pool_ready and not self.door.client:
            main = threading.current_thread() is threading.main_thread()
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
            try:
                ws.executor.wait_ready(120)
            finally:
                if main:
                    signal.signal(signal.SIGINT, previous)
        self._pool_ready = True
        return ws

    def close(self) -> None:
        self._pool_ready = False
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._door is not None:
            self._door.close()
            self._door = None

    @observe("namespace")
    def _namespace_changed(self, change: dict[str, Any]) -> None:
        if self._session is not None and change["new"]:
            self._session.set_namespace(change["new"])

    @observe("display_limit")
    def _limit_changed(self, change: dict[str, Any]) -> None:
        if self._session is not None:
            self._session.display_limit = change["new"]

    # -- dispatch -------------------------------------------------------------------------------------
    @no_var_expand
    @line_cell_magic
    def rat(self, line: str, cell: str | None = None) -> Any:
        """Run ``%rat`` without arguments for the list of subcommands."""
        command, _, rest = line.strip().partition(" ")
        handlers: dict[str, Callable[[str, str | None], Any]] = {
            "sql": self._sql, "run": self._run, "ls": self._ls, "preview": self._preview, "tests": self._tests,
            "lineage": self._lineage, "publish": self._publish, "pipeline": self._pipeline, "test": self._test,
            "runs": self._runs, "logs": self._logs, "cancel": self._cancel, "schedule": self._schedule,
            "schedules": self._schedule, "diff": self._diff, "namespace": self._namespace,
            "namespaces": self._namespace, "notebook": self._notebook,
        }
        handler = handlers.get(command)
        if handler is None:
            print(USAGE if not command or command in ("help", "-h", "--help") else f"unknown subcommand "
                  f"'{command}'\n{USAGE}")
            return None
        if cell is not None and command not in CELL_COMMANDS:
            raise CellError(f"%%rat {command} takes no cell body; use the line form %rat {command}",
                            ename="UsageError")
        try:
            return handler(rest, cell)
        except CellError:
            raise
        except RatError as exc:
            raise CellError(exc.message, ename=type(exc).__name__) from None
        except KeyboardInterrupt:
            if command == "sql":
                raise
            raise CellError(f"%rat {command} interrupted", ename="KeyboardInterrupt") from None

    def _args(self, name: str, rest: str, build: Callable[[_Parser], None]) -> argparse.Namespace:
        parser = _parser(name)
        build(parser)
        try:
            words = shlex.split(rest)
        except ValueError as exc:
            raise CellError(f"{exc}\n{parser.format_usage().strip()}", ename="UsageError") from None
        return parser.parse_args(words)

    def _pid(self, text: str) -> PipelineId:
        if text.count(".") == 1 and not self.session.namespace:
            raise CellError(f"'{text}' needs a namespace: write ns.{text}, or set one with "
                            "%config RatMagics.namespace = 'ns'", ename="UsageError")
        return PipelineId.parse(text, self.session.namespace)

    def _selection(self, text: str) -> str:
        """``layer.name`` (with ``+`` for downstream/upstream) is taken in the current namespace."""
        core = text.strip("+")
        if core.count(".") == 1 and not core.endswith(".*") and self.session.namespace:
            return text.replace(core, f"{self.session.namespace}.{core}", 1)
        return text

    # -- sql ------------------------------------------------------------------------------------------
    def _sql(self, rest: str, cell: str | None) -> Any:
        out: str | None = None
        namespace: str | None = None
        text = rest
        while m := _SQL_OPTION_RE.match(text):
            if m.group(1) in ("--out", "-o"):
                out = m.group(2)
            else:
                namespace = m.group(2)
            text = text[m.end():]
        if cell is not None and text.strip():
            raise CellError(f"unexpected '{text.strip()}' after %%rat sql: the SQL goes in the cell body",
                            ename="UsageError")
        source = cell if cell is not None else text
        if not source.strip():
            raise CellError("no SQL given\n  %%rat sql [--out NAME] [--namespace NS]  |  "
                            "df = %rat sql SELECT ...", ename="UsageError")
        result = self.session.run(source, namespace=namespace, name=out)
        if result.options.default_limit is not None:
            self.display_limit = result.options.default_limit
        for message in result.messages:
            print(message)
        if result.compiled_only:
            print(result.sql.strip())
            return None
        if result.table is None:
            return None
        value = None
        if out or cell is None:
            value = self._convert(result.table)
            if out:
                self.shell.user_ns[out] = value
        if cell is None:
            return value
        from IPython.display import display

        display(mime_bundle(result.table, limit=result.limit, types=result.types, name=result.name,
                            elapsed_ms=result.elapsed_ms), raw=True)
        return None

    def _convert(self, table: pa.Table) -> Any:
        if self.output == "arrow":
            return table
        if self.output == "polars":
            try:
                import polars
            except ImportError:
                raise CellError("RatMagics.output is 'polars' but polars is not installed (pip install polars)",
                                ename="UsageError") from None
            return polars.from_arrow(table)
        return arrow_to_pandas(table)

    # -- runs -----------------------------------------------------------------------------------------
    def _run(self, rest: str, cell: str | None) -> list[Any]:
        args = self._args("run", rest, lambda p: (
            p.add_argument("selection"),
            p.add_argument("--draft", action="store_true", help="run the draft files, not the published version"),
            p.add_argument("-v", "--verbose", action="store_true", help="also print debug lines (compiled SQL)"),
            p.add_argument("--timeout", type=float, default=None, help="stop waiting after this many seconds"),
        ))
        selection = self._selection(args.selection)
        check_selection(self.session.workspace, selection)
        ws = self.workspace
        runs = ws.run_selection(selection, trigger="notebook",
                                version="draft" if args.draft else "published", submitted_by=notebook_user())
        self.last_runs = self._follow(runs, verbose=args.verbose, timeout=args.timeout)
        bad = [r for r in self.last_runs if r.status in UNSUCCESSFUL]
        if bad and self.raise_on_failure:
            first = bad[0]
            reason = f": {first.error}" if getattr(first, "error", None) else ""
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            raise RunFailed(f"{first.namespace}.{first.layer}.{first.name} {first.status}{reason}{more}",
                            self.last_runs)
        return self.last_runs

    def _follow(self, runs: list[Any], *, verbose: bool, timeout: float | None) -> list[Any]:
        """Print each run's log lines as they arrive and move the progress bar until every run has ended."""
        from ..core.workspace import RunView

        ws = self.session.workspace
        ids = [r.id for r in runs]
        several_ns = len({r.namespace for r in runs}) > 1
        label = {r.id: (f"{r.namespace}." if several_ns else "") + f"{r.layer}.{r.name}" for r in runs}
        seq = dict.fromkeys(ids, 0)
        status = {r.id: r.status for r in runs}
        ended: set[str] = set()
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        hinted = False
        bar = _Progress(len(ids), "runs" if len(ids) > 1 else label[ids[0]])
        try:
            while True:
                for rid in ids:
                    if rid in ended:
                        continue
                    out = ws.run_logs(rid, after=seq[rid])  # status is read before the lines: none is missed
                    for entry in out["logs"]:
                        seq[rid] = entry["seq"]
                        if verbose or entry["level"] != "debug":
                            print(f"[{label[rid]}] {entry['level']:<5} {entry['message']}", flush=True)
                    status[rid] = out["status"]
                    if status[rid] in TERMINAL:
                        ended.add(rid)
                failed = any(status[r] in ("failed", "cancelled", "skipped") for r in ids)
                active = [label[r] for r in ids if r not in ended]
                bar.update(len(ended), ("running " + ", ".join(active[:3])) if active else
                           ("finished with failures" if failed else "all succeeded"), failed)
                if not active:
                    break
                if (self.door.client and not hinted and time.monotonic() - started > PENDING_HINT_SECONDS
                        and all(status[r] == "pending" for r in ids if r not in ended)):
                    hinted = True
                    where = (self.door.server or {}).get("url") or "the server"
                    print(f"waiting for {where} to start the run(s): is the RAT server still running?", flush=True)
                if deadline is not None and time.monotonic() > deadline:
                    print("still running; the runs continue in the background (see %rat ls)", flush=True)
                    break
                time.sleep(self.poll_interval)
        except KeyboardInterrupt:
            late: list[str] = []
            for rid in ids:
                if rid not in ended:
                    try:
                        ws.cancel_run(rid)
                    except Conflict:  # already publishing (or just ended): it finishes as it is
                        late.append(label[rid])
                    except RatError:
                        pass
            print("interrupted: cancelled the runs that had not finished"
                  + (f" ({', '.join(late)} already publishing: not cancelled)" if late else ""), flush=True)
        finally:
            bar.close()
        return [RunView(ws.get_run(rid)) for rid in ids]

    # -- listings -------------------------------------------------------------------------------------
    def _ls(self, rest: str, cell: str | None) -> Rich:
        args = self._args("ls", rest, lambda p: p.add_argument("namespace", nargs="?"))
        if args.namespace:
            check_namespace(self.session.workspace, args.namespace)
        rows, total = self.session.workspace.list_pipelines(args.namespace or None, sort=None)
        data = []
        for r in rows:
            last = r.get("last_run") or {}
            data.append([f"{r['namespace']}.{r['layer']}.{r['name']}", r["layer"], r["type"],
                         r.get("published_version") or "—", "changed" if r.get("draft_dirty") else "",
                         last.get("status") or "never run", (last.get("finished_at") or "")[:19].replace("T", " ")])
        headers = ["pipeline", "layer", "type", "published", "draft", "last run", "finished"]
        where = f" in {args.namespace}" if args.namespace else ""
        return Rich(html_listing(headers, data, status_column=5, title=f"{total} pipeline(s){where}"), data=rows)

    def _preview(self, rest: str, cell: str | None) -> Rich:
        args = self._args("preview", rest, lambda p: (
            p.add_argument("pipeline"), p.add_argument("--limit", type=int, default=self.display_limit),
            p.add_argument("--published", action="store_true")))
        pid = self._pid(args.pipeline)
        check_pipeline(self.session.workspace, pid)
        out = self.workspace.preview(*pid.table_identifier, limit=max(1, args.limit),
                                             version="published" if args.published else "draft")
        if out.get("error"):
            raise CellError(f"preview of {pid} failed: {out['error']}", ename="PreviewError")
        columns = out.get("columns") or []
        rows = out.get("rows") or []
        table = pa.Table.from_pylist(rows) if rows else pa.table({c["name"]: pa.array([], pa.null()) for c in columns})
        bundle = mime_bundle(table, limit=args.limit, types=[c["type"] for c in columns],
                             total_rows=out.get("total_row_count", table.num_rows))
        return Rich(bundle, data=table)

    def _tests(self, rest: str, cell: str | None) -> Rich:
        args = self._args("tests", rest, lambda p: (p.add_argument("pipeline"),
                                                    p.add_argument("--published", action="store_true")))
        pid = self._pid(args.pipeline)
        check_pipeline(self.session.workspace, pid)
        return self._test_results(pid, self.workspace.run_tests(
            *pid.table_identifier, version="published" if args.published else "draft"))

    def _lineage(self, rest: str, cell: str | None) -> Any:
        from IPython.display import SVG

        args = self._args("lineage", rest, lambda p: p.add_argument("namespace", nargs="?"))
        namespace = args.namespace or self.session.namespace
        if args.namespace:
            check_namespace(self.session.workspace, args.namespace)
        svg = lineage_svg(self.session.workspace.lineage(namespace),
                          title=f"lineage of {namespace}" if namespace else "lineage", namespace=namespace)
        return SVG(data=svg)

