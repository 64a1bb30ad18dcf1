"""Workers load pandas only when a pipeline uses it, and pandas then behaves as if it had been there all along.

The interpreter-level checks run in fresh subprocesses (pandas, once imported, stays imported); the worker
checks use the real worker processes of the module's workspace and read their memory maps.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rat_jupyter.core.executor import LocalProcessExecutor
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline, run_one

# What pyarrow does with pandas objects: the cases a missing re-check breaks (nullable dtypes, pd.NA in a
# Series) and the ordinary ones. Printed as JSON so a process with and one without the deferral compare.
PROBE = r"""
import json, sys
LAZY = sys.argv[1] == "lazy"
if LAZY:
    from rat_jupyter.core.lazy_pandas import runtime_without_pandas
    with runtime_without_pandas():
        import rat_jupyter.core.runner
else:
    import rat_jupyter.core.runner
out = {"pandas_after_runtime": "pandas" in sys.modules}
import pandas as pd
import pyarrow as pa

def probe(f):
    try:
        value = f()
    except Exception as exc:
        return f"error {type(exc).__name__}"
    kind = value.type if hasattr(value, "type") else value.schema.remove_metadata()
    nulls = value.null_count if hasattr(value, "null_count") else "-"
    return f"{kind} nulls={nulls}"

out["int64_nullable"] = probe(lambda: pa.array(pd.Series([1, None], dtype="Int64")))
out["string_nullable"] = probe(lambda: pa.array(pd.Series(["a", None], dtype="string")))
out["float_nan"] = probe(lambda: pa.array(pd.Series([1.5, None])))
out["from_pandas"] = probe(lambda: pa.Table.from_pandas(pd.DataFrame(
    {"a": pd.Series([1, None], dtype="Int64"), "c": pd.Categorical(["x", "y"])}), preserve_index=False))
out["table_of_frame"] = probe(lambda: pa.table(pd.DataFrame({"a": [1, 2]})))
out["to_pandas"] = str(pa.table({"a": [1, 2]}).to_pandas().dtypes.to_dict())
out["have_pandas"] = pa.lib._pandas_api.have_pandas
print(json.dumps(out))
"""


def _probe(mode: str, tmp_path: Path) -> dict[str, object]:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    done = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_runtime_loads_without_pandas_and_pandas_then_converts_as_usual(tmp_path: Path) -> None:
    eager, lazy = _probe("eager", tmp_path), _probe("lazy", tmp_path)
    assert eager.pop("pandas_after_runtime") is True  # pyarrow.dataset pulls pandas in by default
    assert lazy.pop("pandas_after_runtime") is False
    assert lazy == eager  # once a pipeline imports pandas, pyarrow treats it exactly as before
    assert lazy["int64_nullable"] == "int64 nulls=1"  # the case that needs pyarrow to look for pandas again
    assert lazy["string_nullable"].endswith("nulls=1")
    assert lazy["from_pandas"].startswith("a: int64\nc: dictionary")
    assert lazy["have_pandas"] is True


def test_it_does_nothing_when_pandas_or_pyarrow_is_already_loaded(tmp_path: Path) -> None:
    script = tmp_path / "already.py"
    script.write_text("import sys, pyarrow.lib\n"
                      "from rat_jupyter.core.lazy_pandas import runtime_without_pandas\n"
                      "before = list(sys.meta_path)\n"
                      "with runtime_without_pandas():\n"
                      "    assert sys.meta_path == before\n"
                      "assert sys.meta_path == before\n"
                      "import pyarrow.dataset\n"
                      "print('pandas' in sys.modules)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def _maps_pandas(pid: int) -> bool:
    return "/pandas/" in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_run_sql_without_pandas_and_load_it_for_a_pipeline_that_uses_it(workspace: Workspace,
                                                                              ns: str) -> None:
    pool = workspace.pool
    if not isinstance(pool, LocalProcessExecutor):
        pytest.skip("checks the local executor's worker processes")
    make_pipeline(workspace, ns, "bronze", "s", "SELECT range AS id, range % 3 AS k FROM range(50)")
    make_pipeline(workspace, ns, "silver", "g", "SELECT k, count(*) AS n FROM {{ ref('bronze.s') }} GROUP BY k")
    for layer, name in (("bronze", "s"), ("silver", "g")):
        assert run_one(workspace, ns, layer, name).status == "success"
    pids = pool.worker_pids()
    assert pids and not any(_maps_pandas(pid) for pid in pids)  # SQL runs, tests and commits need no pandas

    code = ("# @merge_strategy: full_refresh\n"
            "import pandas as pd\n"
            "df = pd.DataFrame({'id': pd.Series([1, None, 3], dtype='Int64'),\n"
            "                   'c': pd.Categorical(['x', 'y', 'x'])})\n"
            "result = pa.table(df)\n")
    make_pipeline(workspace, ns, "silver", "p", code, type="python")
    run = run_one(workspace, ns, "silver", "p")
    assert run.status == "success", run.error
    table = workspace.read_table(ns, "silver", "p")
    assert str(table.schema.field("id").type) == "int64"  # a nullable integer, not a float with NaN
    assert sorted(table.to_pylist(), key=lambda r: (r["id"] is None, r["id"] or 0)) == [
        {"id": 1, "c": "x"}, {"id": 3, "c": "x"}, {"id": None, "c": "y"}]
    assert any(_maps_pandas(pid) for pid in pool.worker_pids())  # the worker that ran it has pandas now
