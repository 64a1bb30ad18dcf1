"""The ``%rat`` subcommands that cover a pipeline's whole life from a notebook, without the portal.

``%%rat pipeline`` and ``%%rat test`` write a pipeline's files, ``publish`` (with a diff first), ``runs``,
``logs``, ``cancel``, ``schedule``, ``namespace`` and ``notebook``. Each calls the
:class:`~rat_jupyter.core.workspace.Workspace` facade the magics opened (:mod:`.frontdoor`): as a client of
the server that started the kernel, it reads and writes the same state store and storage the server's REST
API does, so what a cell does shows in the portal at once (runs, schedules, versions) and an error is the
server's own message; in local mode the same calls work on the process's own workspace. Names are checked
first (:mod:`.suggest`), so a typo gets a "did you mean".
"""

from __future__ import annotations

import argparse
import difflib
import getpass
import html
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.config import parse_annotations
from ..core.errors import Conflict, Invalid, NotFound, Unprocessable
from ..core.names import PipelineId
from .display import Rich, html_listing
from .notebooks import SOURCE_FILES, cell_to_file
from .session import CellError
from .suggest import check_namespace, check_pipeline, find_by_prefix

if TYPE_CHECKING:
    from ..core.workspace import Workspace

# core.runs' run states, written out so that %load_ext does not import the run manager (and its executor)
TERMINAL = ("success", "failed", "cancelled", "skipped")
RUN_STATUSES = ("pending", "running", *TERMINAL)
LOG_LEVELS = ("debug", "info", "warn", "error")
CRON_HINT = "5 fields: minute hour day-of-month month day-of-week, e.g. '0 6 * * *' or '*/15 * * * 1-5'"
PENDING_HINT_SECONDS = 10.0  # a client's run still unclaimed after this long: say who should claim it
RECENT_RUNS = 1000  # how far back a run id prefix and the --trigger filter of %rat runs look
# JupyterLab's theme variables first (light and dark themes), plain colours where there are none (nbconvert)
DIFF_STYLE = ("<style>.rat-diff{font:12px var(--jp-code-font-family,monospace);margin:2px 0;white-space:pre;"
              "border:1px solid var(--jp-border-color2,#d0d7de);padding:4px 8px}"
              ".rat-diff .add{color:var(--jp-success-color1,#1a7f37)}.rat-diff .del{color:var(--jp-error-color1,"
              "#cf222e)}.rat-diff .hunk{color:var(--jp-info-color1,#8250df)}.rat-diff .file{font-weight:600}</style>")


def duration_text(ms: int | None) -> str:
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def _when(stamp: str | None) -> str:
    return (stamp or "")[:19].replace("T", " ")


def _elapsed_ms(run: dict[str, Any]) -> int | None:
    """A finished run's duration; for a running one the time so far (the column then says "so far")."""
    if run.get("duration_ms") is not None:
        return int(run["duration_ms"])
    if run.get("started_at"):
        try:
            started = datetime.fromisoformat(run["started_at"])
        except ValueError:
            return None
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        return int((datetime.now(UTC) - started).total_seconds() * 1000)
    return None


def file_diff(old: dict[str, str], new: dict[str, str], old_label: str, new_label: str) -> list[str]:
    """A unified diff of two versions of a pipeline's files (added, removed and changed files)."""
    lines: list[str] = []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if before == after:
            continue
        lines += difflib.unified_diff((before or "").splitlines(keepends=True), (after or "").splitlines(keepends=True),
                                      fromfile=f"{old_label}/{path}" if before is not None else "/dev/null",
                                      tofile=f"{new_label}/{path}" if after is not None else "/dev/null")
    return [line if line.endswith("\n") else line + "\n" for line in lines]


def diff_bundle(lines: list[str], title: str) -> dict[str, str]:
    """The diff as text (consoles, nbconvert) and as coloured HTML."""
    out = [DIFF_STYLE, f'<div class="rat-caption">{html.escape(title)}</div><div class="rat-diff">']
    for line in lines:
        cls = ("file" if line.startswith(("+++", "---")) else "hunk" if line.startswith("@@") else
               "add" if line.startswith("+") else "del" if line.startswith("-") else "")
        text = html.escape(line.rstrip("\n"))
        out.append(f'<span class="{cls}">{text}</span>\n' if cls else text + "\n")
    out.append("</div>")
    return {"text/plain": title + "\n" + "".join(lines), "text/html": "".join(out)}


class JobCommands:
    """The subcommands, mixed into :class:`~rat_jupyter.kernel.magics.RatMagics` (which provides
    ``session``, ``door``, ``_args``, ``_pid`` and ``poll_interval``)."""

    session: Any
    door: Any
    poll_interval: float
    _args: Callable[..., argparse.Namespace]
    _pid: Callable[[str], PipelineId]

    @property
    def ws(self) -> Workspace:
        """The workspace without warming worker processes: these commands never execute a run."""
        return self.session.workspace

    def _checked_pid(self, text: str) -> tuple[PipelineId, dict[str, Any]]:
        pid = self._pid(text)
        return pid, check_pipeline(self.ws, pid)

    # -- pipelines and tests from cells ------------------------------------------------------------------
    def _pipeline(self, rest: str, cell: str | None) -> Any:
        args = self._args("pipeline", rest, lambda p: (
            p.add_argument("pipeline"),
            p.add_argument("--type", choices=list(SOURCE_FILES), default=None),
            p.add_argument("--description", default=None),
            p.add_argument("--publish", action="store_true", help="publish the draft after saving it"),
            p.add_argument("-m", "--message", default=""),
        ))
        pid = self._pid(args.pipeline)
        ws = self.ws
        if cell is None:  # the line form shows the pipeline's source, ready to copy into a %%rat pipeline cell
            row = check_pipeline(ws, pid)
            source = ws.draft_files(pid).get(SOURCE_FILES[row["type"]], "")
            print(f"%%rat pipeline {pid}\n{source}", end="" if source.endswith("\n") else "\n")
            return None
        if not cell.strip():
            raise CellError(f"%%rat pipeline {pid}: the cell is empty; its body is the pipeline's SQL (or Python "
                            "with --type python)", ename="UsageError")
        check_namespace(ws, pid.namespace)
        try:
            row: dict[str, Any] | None = ws.get_pipeline(*pid.table_identifier)
        except NotFound:
            row = None
        kind = row["type"] if row is not None else (args.type or "sql")
        if args.type and args.type != kind:
            raise CellError(f"{pid} is a {kind} pipeline; --type {args.type} cannot change it (delete it and "
                            "create it again)", ename="Invalid")
        source, dropped = cell_to_file(cell) if kind == "sql" else (cell if cell.endswith("\n") else cell + "\n",
                                                                     [])
        if dropped:
            print(f"left out the cell's directives: {', '.join(dropped)}")
        annotations = parse_annotations(source)[0]
        if row is None:
            ws.create_pipeline(*pid.table_identifier, type=kind, source=source, description=args.description or "",
                               owner=self._user())
            print(f"Created {kind} pipeline {pid} (draft)" + _annotated(annotations))
        else:
            path = SOURCE_FILES[kind]
            if same_text(ws.draft_files(pid).get(path), source):
                print(f"{pid}: {path} unchanged")
            else:
                out = ws.write_file(pid.prefix + path, source)
                print(f"Updated {pid}: {path} (draft)" + _annotated(annotations))
                for warning in out.get("warnings") or []:
                    print(f"warning: {warning}")
            if args.description is not None:
                ws.update_pipeline(*pid.table_identifier, description=args.description)
        if args.publish:
            return self._publish_pid(pid, args.message, dry_run=False)
        return None

    def _test(self, rest: str, cell: str | None) -> Any:
        args = self._args("test", rest, lambda p: (
            p.add_argument("pipeline"), p.add_argument("test"),
            p.add_argument("--severity", choices=["error", "warn"], default=None),
            p.add_argument("--description", default=None),
            p.add_argument("--run", action="store_true", help="run the test against the published table"),
            p.add_argument("--delete", action="store_true", help="delete the test (line form)"),
        ))
        pid, _ = self._checked_pid(args.pipeline)
        ws = self.ws
        names = [t["name"] for t in ws.list_tests(*pid.table_identifier)]
        if args.delete:
            if args.test not in names:
                find_by_prefix(args.test, names, "quality test")  # raises NotFound with the closest name
            ws.delete_test(*pid.table_identifier, args.test)
            print(f"Deleted quality test '{args.test}' of {pid} (draft)")
            return None
        if cell is None:
            if args.test not in names:
                find_by_prefix(args.test, names, "quality test")
            test = ws.get_test(*pid.table_identifier, args.test)
            print(f"%%rat test {pid} {args.test}\n{test['sql']}")
            return None
        if not cell.strip():
            raise CellError(f"%%rat test {pid} {args.test}: the cell is empty; its body is the test's SQL (rows "
                            "returned are violations)", ename="UsageError")
        exists = args.test in names
        sql, dropped = cell_to_file(cell)
        if dropped:
            print(f"left out the cell's directives: {', '.join(dropped)}")
        current = ws.get_test(*pid.table_identifier, args.test) if exists else None
        if current is not None and args.severity is None and args.description is None and same_text(
                current["sql"], sql):
            print(f"Quality test '{args.test}' of {pid} unchanged")
        else:
            out = ws.save_test(*pid.table_identifier, args.test, sql, severity=args.severity,
                               description=args.description, create=not exists)
            print(f"{'Updated' if exists else 'Added'} quality test '{args.test}' of {pid} "
                  f"(severity {out['severity']}, draft)")
        if args.run:
            return self._test_results(pid, ws.run_tests(*pid.table_identifier, version="draft", names=[args.test]))
        return None

    def _test_results(self, pid: PipelineId, out: dict[str, Any]) -> Rich:
        data = [[r["test"], r["severity"], r["status"], r.get("violations", 0), r.get("duration_ms"),
                 r.get("error") or ""] for r in out["results"]]
        title = (f"{pid}: {out['passed']} passed, {out['failed']} failed of {out['total']}" if out["total"]
                 else f"{pid} has no quality tests")
        return Rich(html_listing(["test", "severity", "status", "violations", "ms", "error"], data,
                                 status_column=2, title=title), data=out)

    # -- publish with a diff -------------------------------------------------------------------------------
    def _publish(self, rest: str, cell: str | None) -> Any:
        args = self._args("publish", rest, lambda p: (
            p.add_argument("pipeline"), p.add_argument("-m", "--message", default=""),
            p.add_argument("--dry-run", action="store_true", help="show the diff, publish nothing")))
        pid, _ = self._checked_pid(args.pipeline)
        return self._publish_pid(pid, args.message, dry_run=args.dry_run)

    def _diff(self, rest: str, cell: str | None) -> Rich:
        args = self._args("diff", rest, lambda p: (
            p.add_argument("pipeline"),
            p.add_argument("--version", type=int, default=None, help="compare with this version (default: the "
                                                                     "published one)")))
        pid, row = self._checked_pid(args.pipeline)
        lines, title = self._draft_diff(pid, row, args.version)
        return Rich(diff_bundle(lines, title), data="".join(lines))

    def _draft_diff(self, pid: PipelineId, row: dict[str, Any], version: int | None = None) -> tuple[list[str], str]:
        draft = self.ws.draft_files(pid)
        number = version or row.get("published_version")
        if not number:
            return file_diff({}, draft, "published", "draft"), f"{pid}: never published; the draft's files"
        old = self.ws.get_version(*pid.table_identifier, int(number))["contents"]
        lines = file_diff(old, draft, f"v{number}", "draft")
        return lines, (f"{pid}: draft vs version {number}" if lines else f"{pid}: the draft is version {number}")

    def _publish_pid(self, pid: PipelineId, message: str, *, dry_run: bool) -> Any:
        from IPython.display import display

        row = self.ws.get_pipeline(*pid.table_identifier)
        lines, title = self._draft_diff(pid, row)
        if not lines:
            print(f"Nothing to publish: {title}")
            return None
        display(diff_bundle(lines, title), raw=True)
        if dry_run:
            print(f"--dry-run: {pid} was not published")
            return None
        try:
            out = self.ws.publish_pipeline(*pid.table_identifier, message=message)
        except Unprocessable as exc:
            report = (exc.details or {}).get("validation", {}) if isinstance(exc.details, dict) else {}
            errors = [f"{f['path'] or 'pipeline'}: {e}" for f in report.get("files", []) for e in f.get("errors", [])]
            raise CellError(f"{pid} is not valid, nothing was published: " + "; ".join(errors[:5]),
                            ename="Unprocessable") from None
        print(f"Published {pid} as version {out['version']}" + (f": {message}" if message else ""))
        return None

    # -- runs ---------------------------------------------------------------------------------------------
    def _runs(self, rest: str, cell: str | None) -> Rich:
        args = self._args("runs", rest, lambda p: (
            p.add_argument("target", nargs="?", help="NS, NS.LAYER.NAME or LAYER.NAME"),
            p.add_argument("--status", choices=RUN_STATUSES, default=None),
            p.add_argument("--trigger", default=None, help="only runs whose trigger starts with this"),
            p.add_argument("--limit", type=int, default=20),
        ))
        if not 1 <= args.limit <= 500:
            raise CellError("--limit must be from 1 to 500", ename="UsageError")
        filters: dict[str, Any] = {"status": args.status}
        where = ""
        if args.target:
            if args.target.count(".") == 0:
                filters["namespace"] = check_namespace(self.ws, args.target)
            else:
                pid, _ = self._checked_pid(args.target)
                filters.update(namespace=pid.namespace, layer=pid.layer, pipeline=pid.name)
            where = f" of {args.target}"
        if args.trigger:
            rows, _ = self.ws.list_runs(**filters, limit=RECENT_RUNS)
            rows = [r for r in rows if str(r["trigger"]).startswith(args.trigger)]
            total = len(rows)
            rows = rows[:args.limit]
        else:
            rows, total = self.ws.list_runs(**filters, limit=args.limit)
        data = []
        for r in rows:
            ms = _elapsed_ms(r)
            running = r["status"] == "running"
            data.append([r["id"], f"{r['namespace']}.{r['layer']}.{r['name']}", r["status"], r["trigger"],
                         _when(r.get("started_at") or r.get("created_at")),
                         duration_text(ms) + (" so far" if running and ms is not None else ""),
                         _when(r.get("finished_at")), r.get("rows_written"),
                         (r.get("error") or "").splitlines()[0][:80] if r.get("error") else ""])
        shown = f"{len(rows)} of {total}" if total > len(rows) else str(total)
        filters_text = ", ".join(f"{k} {v}" for k, v in (("status", args.status), ("trigger", args.trigger)) if v)
        title = f"{shown} run(s){where}" + (f" ({filters_text})" if filters_text else "") + ", newest first"
        headers = ["run", "pipeline", "status", "trigger", "started", "duration", "ended", "rows", "error"]
        return Rich(html_listing(headers, data, status_column=2, title=title), data=rows)

    def _run_id(self, word: str) -> str:
        """A run id, a unique prefix of one, or ``last`` (the newest run)."""
        ws = self.ws
        if word == "last":
            rows, _ = ws.list_runs(limit=1)
            if not rows:
                raise NotFound("there are no runs yet")
            return str(rows[0]["id"])
        if not word.isalnum():
            raise Invalid(f"'{word}' is not a run id (see %rat runs)")
        try:
            return str(ws.get_run(word)["id"])
        except NotFound:
            rows, _ = ws.list_runs(limit=RECENT_RUNS)
            return find_by_prefix(word, [str(r["id"]) for r in rows], "run")

    def _logs(self, rest: str, cell: str | None) -> None:
        args = self._args("logs", rest, lambda p: (
            p.add_argument("run", help="a run id (or a unique start of one), or 'last'"),
            p.add_argument("--level", choices=LOG_LEVELS, default="info",
                           help="the lowest level shown (default info; debug adds the compiled SQL)"),
            p.add_argument("-f", "--follow", action="store_true", help="keep printing until the run ends"),
            p.add_argument("--timeout", type=float, default=None, help="stop following after this many seconds"),
        ))
        run_id = self._run_id(args.run)
        ws = self.ws
        lowest = LOG_LEVELS.index(args.level)
        after = 0
        deadline = None if args.timeout is None else time.monotonic() + args.timeout
        run = ws.get_run(run_id)
        print(f"run {run_id}: {run['namespace']}.{run['layer']}.{run['name']} ({run['trigger']})", flush=True)
        started, hinted = time.monotonic(), False
        while True:
            out = ws.run_logs(run_id, after=after)  # the status is read before the lines: none is missed
            for entry in out["logs"]:
                after = entry["seq"]
                level = entry["level"] if entry["level"] in LOG_LEVELS else "info"
                if LOG_LEVELS.index(level) >= lowest:
                    at = _when(entry.get("timestamp") or entry.get("ts"))[11:]
                    print(f"{at} {entry['level']:<5} {entry['message']}", flush=True)
            if not args.follow or out["status"] in TERMINAL:
                break
            if deadline is not None and time.monotonic() > deadline:
                print(f"still {out['status']}; stopped following after {args.timeout:g} s", flush=True)
                return None
            if (out["status"] == "pending" and not hinted and self.door.client
                    and time.monotonic() - started > PENDING_HINT_SECONDS):
                hinted = True
                where = (self.door.server or {}).get("url") or "the server"
                print(f"still pending: waiting for {where} to start it (is the RAT server running?)", flush=True)
            time.sleep(self.poll_interval)
        run = ws.get_run(run_id)
        ms = _elapsed_ms(run)
        print(f"status: {run['status']}" + (f" after {duration_text(ms)}" if ms is not None else "")
              + (f": {run['error']}" if run.get("error") else ""), flush=True)
        return None

    def _cancel(self, rest: str, cell: str | None) -> None:
        args = self._args("cancel", rest, lambda p: p.add_argument("run", help="a run id, a unique start of one, "
                                                                              "or 'last'"))
        run_id = self._run_id(args.run)
        before = self.ws.get_run(run_id)
        if before["status"] in TERMINAL:
            raise CellError(f"run {run_id} already ended ({before['status']}); nothing to cancel", ename="Conflict")
        try:
            self.ws.cancel_run(run_id)
        except Conflict as exc:
            raise CellError(exc.message, ename="Conflict") from None
        after = self.ws.get_run(run_id)
        print(f"Cancel requested for run {run_id} ({before['namespace']}.{before['layer']}.{before['name']}, was "
              f"{before['status']}, now {after['status']})")
        return None

    # -- schedules ----------------------------------------------------------------------------------------
    def _schedule(self, rest: str, cell: str | None) -> Any:
        action, _, tail = rest.strip().partition(" ")
        actions: dict[str, Callable[[str], Any]] = {
            "": self._schedule_list, "list": self._schedule_list, "create": self._schedule_create,
            "enable": lambda t: self._schedule_toggle(t, True), "disable": lambda t: self._schedule_toggle(t, False),
            "delete": self._schedule_delete,
        }
        if action not in actions:
            raise CellError(f"unknown schedule action '{action}': use list, create, enable, disable or delete\n"
                            "  %rat schedule create PIPELINE '0 6 * * *' [--timezone TZ] [--disabled]",
                            ename="UsageError")
        return actions[action](tail)

    def _schedule_list(self, tail: str) -> Rich:
        args = self._args("schedule list", tail, lambda p: p.add_argument("namespace", nargs="?"))
        if args.namespace:
            check_namespace(self.ws, args.namespace)
        rows, total = self.ws.schedules.list_schedules(args.namespace or None, limit=200)
        data = [[r["id"], f"{r['namespace']}.{r['layer']}.{r['pipeline']}", r["cron"], r["timezone"],
                 "enabled" if r["enabled"] else "disabled", _when(r.get("next_run_at")) if r["enabled"] else "",
                 _when(r.get("last_fired_at"))] for r in rows]
        where = f" in {args.namespace}" if args.namespace else ""
        return Rich(html_listing(["schedule", "pipeline", "cron", "timezone", "state", "next run (UTC)",
                                  "last fired"], data, title=f"{total} schedule(s){where}"), data=rows)

    def _schedule_create(self, tail: str) -> None:
        args = self._args("schedule create", tail, lambda p: (
            p.add_argument("pipeline"),
            p.add_argument("cron", nargs="+", help="a 5-field cron expression (quoted or not) or @daily, @hourly…"),
            p.add_argument("--timezone", default="UTC"),
            p.add_argument("--disabled", action="store_true"),
        ))
        pid, _ = self._checked_pid(args.pipeline)
        cron = " ".join(args.cron)
        try:
            row = self.ws.schedules.create_schedule(*pid.table_identifier, cron, args.timezone,
                                                    enabled=not args.disabled)
        except Invalid as exc:
            hint = f" ({CRON_HINT})" if "cron" in exc.message else ""
            raise CellError(exc.message + hint, ename="Invalid") from None
        state = f"next run {_when(row['next_run_at'])} UTC" if row["enabled"] else "disabled"
        print(f"Scheduled {pid} at '{row['cron']}' ({row['timezone']}): schedule {row['id']}, {state}")

    def _schedule_id(self, word: str) -> str:
        """A schedule id, a unique start of one, or a pipeline (``ns.layer.name``) that has one schedule."""
        if "." in word:
            pid, _ = self._checked_pid(word)
            rows, _ = self.ws.schedules.list_schedules(pid.namespace, limit=1000)
            mine = [str(r["id"]) for r in rows if (r["layer"], r["pipeline"]) == (pid.layer, pid.name)]
            if len(mine) == 1:
                return mine[0]
            raise (NotFound(f"{pid} has no schedule") if not mine else
                   Invalid(f"{pid} has {len(mine)} schedules ({', '.join(mine)}); give the id of one"))
        rows, _ = self.ws.schedules.list_schedules(None, limit=1000)
        return find_by_prefix(word, [str(r["id"]) for r in rows], "schedule")

    def _schedule_toggle(self, tail: str, enabled: bool) -> None:
        args = self._args("schedule enable" if enabled else "schedule disable", tail,
                          lambda p: p.add_argument("schedule", help="an id, a unique start of one, or a pipeline"))
        row = self.ws.schedules.update_schedule(self._schedule_id(args.schedule), enabled=enabled)
        state = f"enabled, next run {_when(row['next_run_at'])} UTC" if enabled else "disabled"
        print(f"Schedule {row['id']} of {row['namespace']}.{row['layer']}.{row['pipeline']}: {state}")

    def _schedule_delete(self, tail: str) -> None:
        args = self._args("schedule delete", tail, lambda p: p.add_argument("schedule"))
        schedule_id = self._schedule_id(args.schedule)
        row = self.ws.schedules.get_schedule(schedule_id)
        self.ws.schedules.delete_schedule(schedule_id)
        print(f"Deleted schedule {schedule_id} of {row['namespace']}.{row['layer']}.{row['pipeline']}")

    # -- namespaces and notebooks -------------------------------------------------------------------------
    def _namespace(self, rest: str, cell: str | None) -> Any:
        args = self._args("namespace", rest, lambda p: (
            p.add_argument("action", nargs="?", choices=["list", "create"], default="list"),
            p.add_argument("name", nargs="?"), p.add_argument("-d", "--description", default=""),
            p.add_argument("--exist-ok", action="store_true", help="no error when it exists already")))
        if args.action == "create":
            if not args.name:
                raise CellError("%rat namespace create NAME [-d DESCRIPTION] [--exist-ok]", ename="UsageError")
            try:
                self.ws.create_namespace(args.name, args.description, created_by=self._user())
            except Conflict:
                if not args.exist_ok:
                    raise
                print(f"Namespace {args.name} exists already")
                return None
            print(f"Created namespace {args.name}")
            return None
        rows = self.ws.list_namespaces()
        return Rich(html_listing(["namespace", "description", "created"],
                                 [[r["name"], r.get("description") or "", _when(r.get("created_at"))] for r in rows],
                                 title=f"{len(rows)} namespace(s)"), data=rows)

    def _notebook(self, rest: str, cell: str | None) -> None:
        from .notebooks import pipeline_notebook, write_notebook

        args = self._args("notebook", rest, lambda p: (
            p.add_argument("pipeline"),
            p.add_argument("--path", default=None, help="where to write it (default: ns.layer.name.ipynb here)"),
            p.add_argument("--kernel", choices=["rat_sql", "python3"], default=None),
            p.add_argument("--published", action="store_true", help="the published version, not the draft"),
            p.add_argument("--force", action="store_true", help="overwrite an existing file")))
        pid, _ = self._checked_pid(args.pipeline)
        nb = pipeline_notebook(*pid.table_identifier, workspace=self.ws, kernel=args.kernel,
                               version="published" if args.published else "draft")
        path = Path(args.path or f"{pid}.ipynb")
        if path.exists() and not args.force:
            raise CellError(f"{path} exists; use --force to overwrite it or --path to choose another file",
                            ename="Conflict")
        write_notebook(nb, path)
        print(f"Wrote {path}: {len(nb.cells)} cells for {pid} ({nb.metadata['kernelspec']['display_name']})")

    def _user(self) -> str:
        return notebook_user()


def notebook_user() -> str:
    """Who submits a notebook's runs and owns what it creates: the JupyterHub user when there is one, else the
    OS user."""
    return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()


def same_text(stored: str | None, cell: str) -> bool:
    """A cell holds a file's text up to its final newlines (a notebook cell has none, files usually one), so
    saving a cell that was opened from a file unchanged must not make a draft change or a diff."""
    return stored is not None and stored.rstrip("\n") == cell.rstrip("\n")


def _annotated(annotations: dict[str, str]) -> str:
    return (" with " + ", ".join(f"{k}: {v}" for k, v in annotations.items())) if annotations else ""
