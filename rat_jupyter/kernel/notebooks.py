"""Open a pipeline in a notebook: its source and its quality tests as cells, ready to iterate.

Two flavours, both plain nbformat 4:

- **RAT SQL** (``kernel="rat_sql"``, the default for SQL pipelines): a ``%namespace`` cell, the pipeline's
  ``pipeline.sql`` exactly as stored (a cell compiles like a pipeline, so running it shows what the pipeline
  would write), then one cell per quality test. A test reads ``{{ this }}``, which exists only inside a
  pipeline, so its cell starts with ``-- @this: layer.name``, the cell annotation that makes ``this`` the
  pipeline's table; the test's own text follows unchanged.
- **Python** (``kernel="python3"``, the default for Python pipelines, which no SQL kernel can run): the
  ``%rat`` magics — a ``%%rat pipeline`` cell holding the source (running it saves the draft), ``%rat preview``,
  a ``%%rat test … --run`` cell per test, and ``%rat diff``.

Each code cell that holds a pipeline file carries ``metadata.rat`` — ``{"pipeline": "ns.layer.name", "role":
"pipeline" | "test", "path": <file path inside the pipeline>, "prefix": <text the notebook added before the
file's text>, "test": <name>, "severity": …}`` — so a front end can save the cell back to the file it came from
(strip ``prefix``, write ``path``) without parsing the cell.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import Invalid
from ..core.names import PipelineId
from .suggest import check_pipeline

if TYPE_CHECKING:
    import nbformat

    from ..core.workspace import Workspace

KERNELS: dict[str, dict[str, str]] = {
    "rat_sql": {"name": "rat_sql", "display_name": "RAT SQL", "language": "sql"},
    "python3": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
}
LANGUAGES: dict[str, dict[str, Any]] = {
    "rat_sql": {"name": "sql", "mimetype": "text/x-sql", "file_extension": ".sql", "codemirror_mode": "sql"},
    "python3": {"name": "python", "mimetype": "text/x-python", "file_extension": ".py",
                "codemirror_mode": {"name": "ipython", "version": 3}},
}
SOURCE_FILES = {"sql": "pipeline.sql", "python": "pipeline.py"}
# What configures a cell rather than a pipeline: the RAT SQL kernel's ``%`` directives and the cell-only
# annotations (``-- @name:``, ``-- @limit:``, ``-- @namespace:``, ``-- @this:``), among the leading lines.
_DIRECTIVE_LINE = re.compile(r"^\s*%\w+")
_CELL_ANNOTATION = re.compile(r"^\s*--\s*@(name|limit|namespace|this)\s*:")


def cell_to_file(source: str) -> tuple[str, list[str]]:
    """The text a SQL cell is saved as (a ``pipeline.sql`` or a quality test), and the lines left out.

    A cell compiles like a pipeline once its directives are set aside, so "save cell as pipeline" (the
    ``%%rat pipeline`` and ``%%rat test`` magics, and front ends through the same rule) keeps everything but
    the leading ``%`` directives and cell-only annotations, which configure the notebook: the saved pipeline
    then runs exactly the SQL the cell ran. The text ends with one newline, as files do.
    """
    kept: list[str] = []
    dropped: list[str] = []
    leading = True
    for line in source.splitlines(keepends=True):
        if leading:
            if _DIRECTIVE_LINE.match(line) or _CELL_ANNOTATION.match(line):
                dropped.append(line.strip())
                continue
            stripped = line.strip()
            if stripped and not stripped.startswith("--"):
                leading = False
        kept.append(line)
    text = "".join(kept).lstrip("\n")
    return (text if text.endswith("\n") or not text else text + "\n"), dropped


def pipeline_notebook(namespace: str, layer: str, name: str, *, workspace: Workspace | None = None,
                      version: str = "draft", kernel: str | None = None) -> nbformat.NotebookNode:
    """A notebook on pipeline ``namespace.layer.name``: its source and its quality tests as cells.

    ``version`` is ``"draft"`` (what the editor shows; the default) or ``"published"``. ``workspace`` is the
    caller's (the server passes its own; the ``%rat notebook`` magic the kernel's); without one, a workspace
    is opened on ``Settings.from_env()`` without a server (it only reads) and closed again. A missing
    namespace or pipeline raises ``NotFound`` with the closest name.
    """
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook  # not on %load_ext: on first use

    from ..core.pipelines import TEST_DIR, parse_test

    if workspace is None:
        from ..core.settings import Settings
        from ..core.workspace import Workspace

        with Workspace.open(Settings.from_env(), server=False) as ws:
            return pipeline_notebook(namespace, layer, name, workspace=ws, version=version, kernel=kernel)
    if version not in ("draft", "published"):
        raise Invalid(f"version must be 'draft' or 'published', not '{version}'")
    pid = PipelineId.of(namespace, layer, name)
    row = check_pipeline(workspace, pid)
    files, label = workspace.files_for(pid, version)
    kind = row["type"]
    kernel = kernel or ("rat_sql" if kind == "sql" else "python3")
    if kernel not in KERNELS:
        raise Invalid(f"kernel must be one of {', '.join(KERNELS)}, not '{kernel}'")
    if kernel == "rat_sql" and kind != "sql":
        raise Invalid(f"{pid} is a Python pipeline: open it in a Python notebook (kernel 'python3')")
    tests = []
    for path in sorted(files):
        if path.startswith(TEST_DIR) and path.endswith(".sql") and path.count("/") == 2:
            try:
                tests.append((path, parse_test(path[len(TEST_DIR):-4], files[path]), files[path]))
            except Invalid:
                continue  # an invalid test file is shown by the editor and validation, not here
    source_path = SOURCE_FILES[kind]
    source = files.get(source_path, "")
    nb = new_notebook(metadata={
        "kernelspec": dict(KERNELS[kernel]), "language_info": dict(LANGUAGES[kernel]),
        "rat": {"pipeline": str(pid), "type": kind, "version": label,
                "generated_at": datetime.now(UTC).isoformat(timespec="seconds")},
    })
    nb.cells.append(new_markdown_cell(_intro(pid, row, label, kernel, len(tests))))
    meta = {"pipeline": str(pid), "role": "pipeline", "path": source_path}
    if kernel == "rat_sql":
        nb.cells.append(new_code_cell(f"%namespace {pid.namespace}"))
        nb.cells.append(new_code_cell(source.rstrip("\n"), metadata={"rat": {**meta, "prefix": ""}}))
        nb.cells.extend(_test_cells(pid, tests, lambda _test: f"-- @this: {pid.layer}.{pid.name}\n"))
        return nb
    nb.cells.append(new_code_cell(f"%load_ext rat_jupyter.kernel\n%config RatMagics.namespace = '{pid.namespace}'"))
    header = f"%%rat pipeline {pid}\n"
    nb.cells.append(new_code_cell(header + source.rstrip("\n"), metadata={"rat": {**meta, "prefix": header}}))
    nb.cells.append(new_code_cell(f"%rat preview {pid} --limit 20"))
    nb.cells.extend(_test_cells(pid, tests, lambda test: f"%%rat test {pid} {test.name} --run\n"))
    nb.cells.append(new_markdown_cell("When the draft is right, review the change and publish it:"))
    nb.cells.append(new_code_cell(f"%rat diff {pid}\n# %rat publish {pid} -m 'what changed'"))
    return nb


def write_notebook(nb: nbformat.NotebookNode, path: str | Path) -> Path:
    """Validate and write ``nb`` (nbformat 4) to ``path``."""
    import nbformat

    nbformat.validate(nb)
    target = Path(path)
    with target.open("w", encoding="utf-8") as fh:
        nbformat.write(nb, fh)
    return target


def _intro(pid: PipelineId, row: dict[str, Any], label: str, kernel: str, tests: int) -> str:
    published = f"published version {row['published_version']}" if row.get("published_version") else "never published"
    draft = "the draft has unpublished changes" if row.get("draft_dirty") else "the draft is the published version"
    which = "the draft" if label == "draft" else f"version {label}"
    lines = [f"# {pid}", ""]
    if row.get("description"):
        lines += [row["description"], ""]
    lines.append(f"A {row['type'].upper()} pipeline, {published}; {draft}. This notebook holds {which}'s source "
                 f"and its {tests} quality test(s).")
    lines.append("")
    if kernel == "rat_sql":
        lines.append("Run the pipeline cell to see what the pipeline would write: a cell compiles exactly like the "
                     "pipeline (`is_incremental()` is false here). A quality test's cell starts with "
                     f"`-- @this: {pid.layer}.{pid.name}`, which makes `{{{{ this }}}}` the pipeline's published "
                     "table; the rows it returns are violations. Save a cell back with *Save cell as pipeline*, "
                     f"or from a Python notebook with `%%rat pipeline {pid}`.")
    else:
        lines.append("Running the `%%rat pipeline` cell saves it as the draft; `%rat preview` shows what it would "
                     "write. Each `%%rat test … --run` cell saves a quality test and runs it against the published "
                     "table. Nothing is published until you run `%rat publish`.")
    return "\n".join(lines)


def _test_cells(pid: PipelineId, tests: list[tuple[str, Any, str]], prefix_of: Callable[[Any], str]) -> list[Any]:
    """A heading and a code cell per quality test; the code cell is ``prefix_of(test)`` (what makes the test's
    text run in this kernel) followed by the test file's text, with the ``metadata.rat`` to save it back."""
    from nbformat.v4 import new_code_cell, new_markdown_cell

    cells = []
    for path, test, text in tests:
        prefix = prefix_of(test)
        cells.append(new_markdown_cell(_test_heading(test)))
        cells.append(new_code_cell(prefix + text.rstrip("\n"), metadata={"rat": {
            "pipeline": str(pid), "role": "test", "path": path, "prefix": prefix, "test": test.name,
            "severity": test.severity}}))
    return cells


def _test_heading(test: Any) -> str:
    text = f"## Quality test `{test.name}` ({test.severity})"
    return text + (f"\n\n{test.description}" if test.description else "")
