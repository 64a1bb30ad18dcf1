"""A "did you mean" for every name a notebook types: a missing namespace, pipeline, run or schedule.

A notebook user types names by hand. "0 pipelines" for a misspelt namespace, or a bare "not found", sends them
to the portal to look the name up; the closest existing name (``difflib``) is usually the one they meant.
Everything here reads through the :class:`~rat_jupyter.core.workspace.Workspace` facade, so it behaves the same
for a client of a server and in local mode.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from ..core.errors import Invalid, NotFound
from ..core.names import PipelineId, validate_namespace

if TYPE_CHECKING:
    from ..core.workspace import Workspace

MIN_ID_PREFIX = 4  # a run or schedule id may be shortened to a unique prefix of at least this many characters


def closest(word: str, candidates: list[str], cutoff: float = 0.6) -> str | None:
    found = difflib.get_close_matches(word, candidates, n=1, cutoff=cutoff)
    return found[0] if found else None


def check_namespace(ws: Workspace, name: str) -> str:
    """``name`` if that namespace exists; else :class:`NotFound` naming the closest one (or all of them)."""
    validate_namespace(name)
    known = [n["name"] for n in ws.list_namespaces()]
    if name in known:
        return name
    near = closest(name, known)
    if near:
        hint = f"; did you mean '{near}'?"
    elif known:
        hint = (f"; namespaces: {', '.join(known[:10])}" + (" …" if len(known) > 10 else "")
                + f" (a new one: %rat namespace create {name})")
    else:
        hint = "; there are no namespaces yet: %rat namespace create NAME"
    raise NotFound(f"namespace '{name}' does not exist{hint}")


def check_pipeline(ws: Workspace, pid: PipelineId) -> dict[str, Any]:
    """The pipeline's record; a missing one raises :class:`NotFound` with the closest pipeline's name.

    Candidates are every live pipeline, so ``analytics.silver.orders`` typed for ``analytics.silver.orders_clean``
    and ``analytcs.silver.orders_clean`` both find it; a missing namespace is reported as such first.
    """
    check_namespace(ws, pid.namespace)
    try:
        return ws.get_pipeline(*pid.table_identifier)
    except NotFound:
        pass
    rows, _ = ws.list_pipelines(None)
    known = [f"{r['namespace']}.{r['layer']}.{r['name']}" for r in rows]
    near = closest(str(pid), known)
    if near:
        hint = f"; did you mean '{near}'?"
    else:
        here = [k for k in known if k.startswith(pid.namespace + ".")]
        hint = (f"; {pid.namespace} has: {', '.join(here[:10])}" + (" …" if len(here) > 10 else "")) if here \
            else f"; namespace {pid.namespace} has no pipelines yet (create one with %%rat pipeline {pid})"
    raise NotFound(f"pipeline {pid} does not exist{hint}")


def check_selection(ws: Workspace, selection: str) -> None:
    """Check the names in a ``%rat run`` selection (``ns.layer.name[+]``, ``+ns.layer.name``, ``ns.*``,
    ``ns.layer.*``) before anything is submitted, so a typo is a "did you mean", not "no pipelines match"."""
    core = selection.strip().strip("+")
    if core.endswith(".*") or core == "*":
        head = core[:-2] if core.endswith(".*") else ""
        if head:
            check_namespace(ws, head.split(".")[0])
        return
    try:
        pid = PipelineId.parse(core)
    except Invalid:
        return  # the workspace says what is wrong with the selection's syntax
    check_pipeline(ws, pid)


def find_by_prefix(word: str, ids: list[str], kind: str) -> str:
    """An id, or the one id that starts with ``word`` (at least :data:`MIN_ID_PREFIX` characters)."""
    if word in ids:
        return word
    if len(word) >= MIN_ID_PREFIX:
        matches = [i for i in ids if i.startswith(word)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise Invalid(f"'{word}' is the start of {len(matches)} {kind} ids; give more characters")
    near = closest(word, ids, cutoff=0.7)
    raise NotFound(f"{kind} '{word}' not found" + (f"; did you mean '{near}'?" if near else ""))
