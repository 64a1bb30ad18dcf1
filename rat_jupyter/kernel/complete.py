"""Tab completion for ``%rat`` / ``%%rat``: subcommands, then the names each one takes.

Names (pipelines, namespaces, recent runs, schedules) come from the workspace only once a ``%rat`` command has
opened it: completing never opens a workspace, which could print the local-mode notice or take the data
directory's lock in the middle of typing.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from ..core.errors import RatError

if TYPE_CHECKING:
    from .magics import RatMagics

SUBCOMMANDS = ("sql", "pipeline", "test", "run", "runs", "logs", "cancel", "ls", "preview", "tests", "lineage",
               "diff", "publish", "schedule", "namespace", "notebook", "help")
PIPELINE_ARG = ("pipeline", "test", "run", "preview", "tests", "diff", "publish", "notebook")
NAMESPACE_OR_PIPELINE = ("runs",)
NAMESPACE_ARG = ("ls", "lineage")
RUN_ARG = ("logs", "cancel")
SCHEDULE_ACTIONS = ("list", "create", "enable", "disable", "delete")


class RatCompleter:
    """An IPython ``complete_command`` hook bound to the magics (for their open workspace)."""

    def __init__(self, magics: RatMagics) -> None:
        self.magics = magics

    def __call__(self, _shell: Any, event: Any) -> list[str]:
        before = event.text_until_cursor.lstrip()
        before = before[2:] if before.startswith("%%") else before[1:]
        try:
            words = shlex.split(before)
        except ValueError:
            return []
        if before.endswith((" ", "\t")):
            words.append("")
        words = words[1:]  # "rat"
        if len(words) <= 1:
            return list(SUBCOMMANDS)
        command, position = words[0], len(words) - 1
        if command == "schedule":
            if position == 1:
                return list(SCHEDULE_ACTIONS)
            if position == 2 and words[1] == "create":
                return self._pipelines()
            if position == 2 and words[1] in ("enable", "disable", "delete"):
                return self._schedules() + self._pipelines()
            if position == 2 and words[1] == "list":
                return self._namespaces()
            return []
        if position != 1:
            return []
        if command in PIPELINE_ARG:
            return self._pipelines()
        if command in NAMESPACE_OR_PIPELINE:
            return self._namespaces() + self._pipelines()
        if command in NAMESPACE_ARG:
            return self._namespaces()
        if command in RUN_ARG:
            return ["last", *self._runs()]
        if command == "namespace":
            return ["list", "create"]
        return []

    # -- names, only from an open workspace ---------------------------------------------------------------
    def _open(self) -> Any:
        session = getattr(self.magics, "_session", None)
        return None if session is None else session.workspace

    def _pipelines(self) -> list[str]:
        ws = self._open()
        if ws is None:
            return []
        try:
            rows, _ = ws.list_pipelines(None)
        except RatError:
            return []
        current = self.magics.session.namespace
        full = [f"{r['namespace']}.{r['layer']}.{r['name']}" for r in rows]
        short = [f"{r['layer']}.{r['name']}" for r in rows if r["namespace"] == current]
        return short + full

    def _namespaces(self) -> list[str]:
        ws = self._open()
        return [] if ws is None else [n["name"] for n in ws.list_namespaces()]

    def _runs(self) -> list[str]:
        ws = self._open()
        return [] if ws is None else [str(r["id"]) for r in ws.list_runs(limit=20)[0]]

    def _schedules(self) -> list[str]:
        ws = self._open()
        return [] if ws is None else [str(r["id"]) for r in ws.schedules.list_schedules(None, limit=50)[0]]


def register(ipython: Any, magics: RatMagics) -> None:
    """Complete ``%rat`` and ``%%rat`` lines in this shell."""
    completer = RatCompleter(magics)
    for key in ("%rat", "%%rat"):
        ipython.set_hook("complete_command", completer, str_key=key)
