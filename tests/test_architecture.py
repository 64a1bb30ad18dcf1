"""Architecture rules that a review would otherwise have to catch by eye.

1. Every SQL statement against the state store lives in ``rat_jupyter/stores/`` (named ``SqlState`` methods,
   described by ``stores/protocols.py``): no SQL against a state-store table anywhere else in the package, and
   no raw ``state.query/one/scalar/execute/tx`` calls outside the stores. DuckDB SQL over Iceberg tables (the
   engine's, the query service's, the demo pipelines') is not state-store SQL and is not affected.
2. The core imports without the frameworks of its front doors: ``rat_jupyter.core`` (every module in it) loads
   with tornado, jupyter_server, IPython, apscheduler and traitlets made unimportable.
3. Dependencies point one way (ADR 0019): ``rat_jupyter.common`` imports nothing else of the package, no store
   module imports the core, and the core reaches the stores only through ``stores/protocols.py`` or its one
   composition root (``core/composition.py``). Every import counts: module level, inside a function, or under
   ``TYPE_CHECKING``.
4. The workspace's services (``core/services/``) stay rooms of their own: each at most 400 lines, each with a
   docstring saying what it owns.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from rat_jupyter.stores.state import MIGRATIONS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rat_jupyter"
STORES = PACKAGE / "stores"
CORE = PACKAGE / "core"
COMMON = PACKAGE / "common"
COMPOSITION_ROOT = "rat_jupyter.core.composition"

# Files that still hold state-store SQL, each to be moved behind a store method by its owner. This list only
# ever shrinks: a file not listed here fails the test as soon as it contains such SQL.
ALLOWED: frozenset[str] = frozenset()

TABLES = sorted({m.group(1) for statements in MIGRATIONS for s in statements
                 for m in re.finditer(r"CREATE TABLE (\w+)", s)} | {"schema_version"})
STATE_SQL = re.compile(
    r"\b(?:SELECT\b[\s\S]*?\bFROM|INSERT\s+INTO|UPDATE|DELETE\s+FROM|JOIN)\s+(?:" + "|".join(TABLES) + r")\b")
RAW_CALLS = {"query", "one", "scalar", "execute", "tx"}


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal with its line; an f-string's literal parts joined with ``?`` where values go."""
    out: list[tuple[int, str]] = []
    parts = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    for node in ast.walk(tree):
        if id(node) in parts:
            continue  # a literal part of an f-string: checked with the whole f-string
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "?"
                           for v in node.values)
            out.append((node.lineno, text))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append((node.lineno, node.value))
    return out


def _raw_state_calls(tree: ast.AST) -> list[int]:
    """Lines calling ``state.query(...)`` / ``self.ws.state.execute(...)`` and friends."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in RAW_CALLS:
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
            if name == "state":
                lines.append(node.lineno)
    return lines


def violations(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = [f"{path.relative_to(root)}:{line}: state-store SQL {text.strip()[:80]!r}"
             for line, text in _strings(tree) if STATE_SQL.search(text)]
    found += [f"{path.relative_to(root)}:{line}: raw state-store call" for line in _raw_state_calls(tree)]
    return found


def test_no_state_store_sql_outside_the_stores() -> None:
    files = [p for p in PACKAGE.rglob("*.py") if STORES not in p.parents]
    assert len(files) > 30  # the walk found the package
    problems = [v for p in files if str(p.relative_to(ROOT)) not in ALLOWED for v in violations(p)]
    assert problems == [], "SQL against the state store belongs in rat_jupyter/stores/:\n" + "\n".join(problems)
    still = sorted(f for f in ALLOWED if violations(ROOT / f))
    assert still == sorted(ALLOWED), f"clean now, remove from ALLOWED: {sorted(set(ALLOWED) - set(still))}"


def test_the_sql_detector_finds_what_it_should_and_ignores_engine_sql(tmp_path: Path) -> None:
    """The rule is only as good as its detector: state-store SQL in its spellings, but not DuckDB SQL."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f(ws, state, table, pid):\n"
        "    ws.state.query('SELECT status, COUNT(*) AS n FROM runs GROUP BY status')\n"
        "    x = ('DELETE FROM run_logs '\n         'WHERE run_id = ?')\n"
        "    y = f'UPDATE schedules SET enabled = {1} WHERE id = ?'\n"
        "    z = f'SELECT * FROM {table} WHERE id = ?'\n"  # a dynamic table name: caught by the raw call below
        "    state.one(z)\n"
        "    engine = f'SELECT * FROM {pid.sql} QUALIFY row_number() OVER () = 1'\n"
        "    preview = 'SELECT * FROM __rat_preview LIMIT 5'\n"
        "    prose = 'select the runs to delete from the list'\n")
    found = [v.split(": ", 1)[1] for v in violations(sample, tmp_path)]
    assert sum("state-store SQL" in v for v in found) == 3, found
    assert sum("raw state-store call" in v for v in found) == 2, found
    assert not any("__rat_preview" in v or "QUALIFY" in v or "select the runs" in v for v in found)


BLOCKER = """
import importlib, importlib.abc, pkgutil, sys
BLOCKED = ("tornado", "jupyter_server", "IPython", "apscheduler", "traitlets")

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is unimportable in this test")
        return None

sys.meta_path.insert(0, Blocker())
for name in BLOCKED:
    sys.modules.pop(name, None)
import rat_jupyter.core as core
names = [info.name for info in pkgutil.walk_packages(core.__path__, "rat_jupyter.core.")]
for name in names:
    importlib.import_module(name)
import rat_jupyter.stores.protocols, rat_jupyter.stores.state  # the stores the core uses, too
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not leaked, leaked
try:
    import apscheduler  # noqa: F401
except ImportError:
    pass
else:
    raise AssertionError("the blocker does not block")
print(*names)
"""


def test_the_core_imports_without_tornado_jupyter_ipython_apscheduler_or_traitlets() -> None:
    done = subprocess.run([sys.executable, "-c", BLOCKER], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = {f"rat_jupyter.core.{p.stem}" for p in (PACKAGE / "core").glob("*.py") if p.name != "__init__.py"}
    assert expected <= set(done.stdout.split())  # every module of the core was imported


def test_the_schedules_service_runs_in_the_core_with_an_injected_cron() -> None:
    """The core service needs no scheduler package: validation, CRUD and firing with a plain next_fire."""
    code = BLOCKER.replace("print(*names)", "") + """
from datetime import UTC, datetime, timedelta
from rat_jupyter.core.schedules import Schedules
from rat_jupyter.stores.state import SQLiteState
import tempfile, pathlib
state = SQLiteState(pathlib.Path(tempfile.mkdtemp()) / "state.db")
state.create_namespace("shop")
state.create_pipeline("shop", "bronze", "a", "sql")
hourly = lambda expr, tz, after: after.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
started = []
svc = Schedules(state, lambda selector, label: started.append((selector, label)) or "run1", next_fire=hourly,
                clock=lambda: datetime(2026, 3, 1, 10, 30, tzinfo=UTC))
s = svc.create_schedule("shop", "bronze", "a", "hourly")
assert s["next_run_at"].startswith("2026-03-01T11:00:00"), s
assert svc.tick(datetime(2026, 3, 1, 10, 59, tzinfo=UTC))["schedules"] == 0
assert svc.tick(datetime(2026, 3, 1, 11, 0, tzinfo=UTC))["schedules"] == 1
assert svc.tick(datetime(2026, 3, 1, 11, 0, tzinfo=UTC))["schedules"] == 0  # the slot fired once
assert started == [("shop.bronze.a", "schedule:hourly")], started
assert svc.get_schedule(s["id"])["last_run_id"] == "run1"
assert not [m for m in sys.modules if m.split(".")[0] in BLOCKED]
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, text: str | None = None) -> list[tuple[int, str]]:
    """Every module ``path`` (or ``text`` as if it were that module) imports, absolute (relative imports
    resolved), with its line; ``from X import y`` yields ``X.y`` too, since ``y`` may be a module."""
    tree = ast.parse(path.read_text() if text is None else text, filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append((node.lineno, module))
            out += [(node.lineno, f"{module}.{alias.name}") for alias in node.names if alias.name != "*"]
    return out


def _is_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_import_walker_resolves_relative_lazy_and_type_checking_imports() -> None:
    text = ("from typing import TYPE_CHECKING\nfrom ..core import errors\nfrom .state import open_state\n"
            "import json\nif TYPE_CHECKING:\n    from ..core.settings import Settings\n"
            "def f():\n    from ..core.names import PipelineId\n")
    found = {m for _line, m in imports_of(STORES / "sample.py", text)}
    assert {"rat_jupyter.core", "rat_jupyter.core.errors", "rat_jupyter.stores.state", "json",
            "rat_jupyter.core.settings", "rat_jupyter.core.names"} <= found, found
    assert {m for _l, m in imports_of(CORE / "services" / "__init__.py", "from ..dag import DAG\n")} \
        >= {"rat_jupyter.core.dag"}


def _violations(folder: Path, allowed: object) -> list[str]:
    problems = []
    for path in sorted(folder.rglob("*.py")):
        for line, module in imports_of(path):
            reason = allowed(_module_name(path), module)  # type: ignore[operator]
            if reason:
                problems.append(f"{path.relative_to(ROOT)}:{line}: imports {module} ({reason})")
    return problems


def test_common_imports_nothing_else_of_the_package() -> None:
    def rule(_name: str, module: str) -> str | None:
        if _is_under(module, "rat_jupyter") and not _is_under(module, "rat_jupyter.common"):
            return "common is the leaf every layer shares"
        return None

    assert _violations(COMMON, rule) == []


def test_no_store_module_imports_the_core() -> None:
    def rule(_name: str, module: str) -> str | None:
        return "stores depend on common, never on the core" if _is_under(module, "rat_jupyter.core") else None

    assert len(list(STORES.rglob("*.py"))) >= 5
    assert _violations(STORES, rule) == []


def test_the_core_reaches_the_stores_only_through_protocols_or_the_composition_root() -> None:
    def rule(name: str, module: str) -> str | None:
        if not _is_under(module, "rat_jupyter.stores") or module == "rat_jupyter.stores":
            return None
        if _is_under(module, "rat_jupyter.stores.protocols") or name == COMPOSITION_ROOT:
            return None
        return f"only {COMPOSITION_ROOT} builds concrete stores; type against rat_jupyter.stores.protocols"

    assert (CORE / "composition.py").exists()
    assert _violations(CORE, rule) == []


def test_a_real_state_store_satisfies_the_protocol_the_workspace_is_typed_against(tmp_path: Path) -> None:
    from rat_jupyter.stores.protocols import RunManagerStore, StateStore
    from rat_jupyter.stores.state import SQLiteState

    store = SQLiteState(tmp_path / "state.db")
    try:
        assert isinstance(store, StateStore) and isinstance(store, RunManagerStore)
    finally:
        store.close()


MAX_SERVICE_LINES = 400


def test_each_workspace_service_is_a_room_of_its_own() -> None:
    """The facade's services stay small and say what they own, so a newcomer finds a feature in one hop."""
    services = sorted((CORE / "services").glob("*.py"))
    assert len(services) >= 10, services
    too_long = {p.name: n for p in services if (n := len(p.read_text().splitlines())) > MAX_SERVICE_LINES}
    assert too_long == {}, f"split these services (at most {MAX_SERVICE_LINES} lines each): {too_long}"
    undocumented = [p.name for p in services if not ast.get_docstring(ast.parse(p.read_text()))]
    assert undocumented == [], f"say what each service owns in its module docstring: {undocumented}"


def test_the_server_extension_does_not_import_the_write_path() -> None:
    """The server never writes a table itself (workers do): importing the extension must not import the
    runner, the fast write path or pyiceberg's Arrow IO (~50 MiB of a server that only dispatches)."""
    code = ("import sys, rat_jupyter.app, rat_jupyter.stores.catalog\n"
            "heavy = ('pyiceberg.io.pyarrow', 'rat_jupyter.core.fastwrite', 'rat_jupyter.core.runner')\n"
            "print(*[m for m in heavy if m in sys.modules])\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []
