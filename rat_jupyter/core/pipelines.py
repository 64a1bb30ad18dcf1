"""A pipeline's files, parsed: source kind, config, quality tests, and validation.

Files are keyed by their path relative to the pipeline folder (``pipeline.sql``, ``config.yaml``,
``tests/quality/not_null.sql``) so a published version and a draft look the same.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from .config import PipelineConfig, build_config, parse_annotations
from .errors import Invalid, RatError, TemplateError
from .names import PipelineId, validate_name
from .templating import RenderContext, check_syntax, lint, render

SOURCE_FILES = ("pipeline.sql", "pipeline.py")
TEST_DIR = "tests/quality/"
SEVERITIES = ("error", "warn")
_TEST_ANNOTATION = re.compile(r"^\s*--\s*@(severity|description|tags|remediation):\s*(.*?)\s*$", re.M)
_PY_REF = re.compile(r"""\bref\(\s*['"]([^'"]+)['"]\s*\)""")
_PY_LANDING = re.compile(r"""\blanding_zone\(\s*['"]([^'"]+)['"]""")


def digest(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


@dataclass(frozen=True)
class QualityTest:
    name: str
    sql: str
    severity: str = "error"
    description: str = ""
    tags: tuple[str, ...] = ()
    remediation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sql": self.sql, "severity": self.severity, "description": self.description,
                "tags": list(self.tags), "remediation": self.remediation}


@dataclass
class PipelineSpec:
    pid: PipelineId
    kind: str  # "sql" | "python"
    source: str  # with annotation lines blanked
    config: PipelineConfig
    tests: list[QualityTest] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_test(name: str, sql: str) -> QualityTest:
    validate_name(name, "test name")
    found: dict[str, str] = {}
    for m in _TEST_ANNOTATION.finditer(sql):
        found.setdefault(m.group(1), m.group(2))
    severity = found.get("severity", "error").lower()
    if severity == "warning":
        severity = "warn"
    if severity not in SEVERITIES:
        raise Invalid(f"test '{name}': severity must be 'error' or 'warn', not '{severity}'")
    tags = tuple(t.strip().lower() for t in found.get("tags", "").split(",") if t.strip())
    return QualityTest(name, sql, severity, found.get("description", ""), tags, found.get("remediation", ""))


def source_kind(files: dict[str, str]) -> tuple[str, str]:
    present = [f for f in SOURCE_FILES if f in files]
    if not present:
        raise Invalid("pipeline has no pipeline.sql or pipeline.py")
    if len(present) == 2:
        raise Invalid("pipeline has both pipeline.sql and pipeline.py; keep one")
    return ("sql" if present[0] == "pipeline.sql" else "python"), present[0]


def load_spec(pid: PipelineId, files: dict[str, str]) -> PipelineSpec:
    kind, path = source_kind(files)
    annotations, body = parse_annotations(files[path])
    config = build_config(files.get("config.yaml"), annotations)
    tests = []
    for fpath in sorted(files):
        if fpath.startswith(TEST_DIR) and fpath.endswith(".sql") and fpath.count("/") == 2:
            tests.append(parse_test(fpath[len(TEST_DIR):-4], files[fpath]))
    return PipelineSpec(pid, kind, body, config, tests, list(config.warnings))


def dependencies(spec: PipelineSpec) -> tuple[list[PipelineId], list[tuple[str, str]]]:
    """The parse pass: which tables and landing zones the pipeline reads.

    SQL is rendered twice (``is_incremental()`` false and true) with recording resolvers, so refs under
    either branch of an ``{% if is_incremental() %}`` count. Python sources are scanned for literal
    ``ref('…')`` calls, since running them is not a parse.
    """
    if spec.kind == "python":
        refs = []
        for m in _PY_REF.finditer(spec.source):
            pid = PipelineId.parse(m.group(1), spec.pid.namespace)
            if pid not in refs:
                refs.append(pid)
        zones = [(spec.pid.namespace, z.split(".")[-1]) for z in _PY_LANDING.findall(spec.source)]
        return refs, zones
    refs_all: list[PipelineId] = []
    zones_all: list[tuple[str, str]] = []
    for incremental in (False, True):
        ctx = RenderContext(namespace=spec.pid.namespace, pipeline=spec.pid, strategy=spec.config.merge_strategy,
                            is_incremental=incremental, watermark_value="", run_started_at="")
        rendered = render(spec.source, ctx)
        refs_all += [r for r in rendered.refs if r not in refs_all]
        zones_all += [z for z in rendered.landing_zones if z not in zones_all]
    return [r for r in refs_all if r != spec.pid], zones_all


def validate_files(pid: PipelineId, files: dict[str, str]) -> dict[str, Any]:
    """Validate every file of a pipeline. Returns ``{valid, files: [{path, valid, errors, warnings}]}``."""
    reports: list[dict[str, Any]] = []
    ok = True
    for path in sorted(files):
        errors: list[str] = []
        warnings: list[str] = []
        try:
            warnings += validate_file(pid, path, files[path], files)
        except RatError as exc:
            errors.append(exc.message)
        ok = ok and not errors
        reports.append({"path": path, "valid": not errors, "errors": errors, "warnings": warnings})
    try:
        spec = load_spec(pid, files)
        dependencies(spec)
    except RatError as exc:
        if ok:
            reports.append({"path": "", "valid": False, "errors": [exc.message], "warnings": []})
        ok = False
    else:
        if ok and spec.kind == "sql":
            error = sql_syntax_error(spec)
            if error:
                report = next(r for r in reports if r["path"] == "pipeline.sql")
                report["errors"].append(error)
                report["valid"] = ok = False
    return {"valid": ok, "files": reports}


def sql_syntax_error(spec: PipelineSpec) -> str | None:
    """DuckDB's parser over the rendered SQL (both ``is_incremental()`` branches): a grammar error, at its line.

    Only parsed, never bound or run, so nothing needs to exist; a save is not refused for it (a draft may be
    half written) but Validate and publish report it, at the line of the user's file. The rendered text keeps
    the file's line numbers (annotations are blanked, Jinja keeps newlines); where a block changed them, the
    line DuckDB quotes is looked up in the file, nearest to the number it gave."""
    import duckdb  # lazily: a server that never validates never loads DuckDB

    conn = duckdb.connect(":memory:")
    try:
        for incremental in (False, True):
            ctx = RenderContext(namespace=spec.pid.namespace, pipeline=spec.pid, strategy=spec.config.merge_strategy,
                                is_incremental=incremental, watermark_value="0",
                                run_started_at="2000-01-01T00:00:00+00:00")  # stand-ins that parse quoted or not
            rendered = render(spec.source, ctx).sql
            if not rendered.strip():
                continue
            try:
                conn.extract_statements(rendered)
            except duckdb.ParserException as exc:
                return _syntax_message(str(exc), spec.source, rendered)
    finally:
        conn.close()
    return None


_LINE = re.compile(r"^LINE (\d+):\s?(.*)$", re.M)


def _syntax_message(message: str, source: str, rendered: str) -> str:
    first = message.splitlines()[0].removeprefix("Parser Error: ").strip()
    m = _LINE.search(message)
    src_lines = source.splitlines()
    if m:
        claimed, quoted = int(m.group(1)), m.group(2).strip()
        hits = [i + 1 for i, text in enumerate(src_lines) if text.strip() and quoted and
                (quoted in text or text.strip() in quoted)]
        line = min(hits, key=lambda n: abs(n - claimed)) if hits else claimed
    else:  # "at end of input": the last line with text
        line = max((i + 1 for i, text in enumerate(src_lines) if text.strip()), default=1)
    return f"SQL syntax error at line {line}: {first}"


def validate_file(pid: PipelineId, path: str, content: str, files: dict[str, str] | None = None) -> list[str]:
    """Check one file before it is saved; raise a domain error, return warnings."""
    if path == "config.yaml":
        annotations: dict[str, str] = {}
        for src in SOURCE_FILES:
            if files and src in files:
                annotations = parse_annotations(files[src])[0]
        return list(build_config(content, annotations).warnings)
    if path in SOURCE_FILES:
        annotations, body = parse_annotations(content)
        config = build_config((files or {}).get("config.yaml"), annotations)
        warnings = list(config.warnings)
        if path == "pipeline.sql":
            check_syntax(body)
            warnings += lint(body)
            try:
                spec = PipelineSpec(pid, "sql", body, config)
                dependencies(spec)
            except TemplateError:
                raise
        else:
            try:
                compile(body, "pipeline.py", "exec")
            except SyntaxError as exc:
                raise Invalid(f"Python syntax error at line {exc.lineno}: {exc.msg}") from None
        return warnings
    if path.startswith(TEST_DIR):
        if not path.endswith(".sql") or path.count("/") != 2:
            raise Invalid("quality tests are files tests/quality/<name>.sql")
        test = parse_test(path[len(TEST_DIR):-4], content)
        check_syntax(test.sql)
        if not test.sql.strip():
            raise Invalid(f"test '{test.name}' is empty")
        return []
    if path.endswith((".yaml", ".yml")):
        from .config import load_yaml

        load_yaml(content) if path.endswith("meta.yaml") else None
    return []
