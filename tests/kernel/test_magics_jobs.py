"""Every job magic (``%%rat pipeline``, ``%%rat test``, ``runs``, ``logs``, ``cancel``, ``schedule``, ``publish``,
``diff``, ``namespace``, ``notebook``) in a real IPython kernel driven by nbclient, in local mode (no server):
the happy path, a typo answered with a "did you mean", and bad input answered with a one-line usage error.

The same commands against a real Jupyter server (client mode) are in ``test_walkthrough.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from rat_jupyter.core.errors import Invalid, NotFound
from rat_jupyter.core.workspace import Workspace
from rat_jupyter.kernel.display import DATARESOURCE
from rat_jupyter.kernel.notebooks import cell_to_file, pipeline_notebook
from tests.kernel.conftest import Seeded, text_of
from tests.kernel.test_kernel import kernelspecs  # noqa: F401 - the fixture: the kernelspec installed in a prefix

pytestmark = pytest.mark.timeout(300)

BUSY_PY = """# @merge_strategy: full_refresh
import time
log('started')
until = time.monotonic() + 20
while time.monotonic() < until:
    duckdb_conn.sql("SELECT count(*) FROM range(3000000) t(x) WHERE x % 7 = 3").fetchall()
result = duckdb_conn.sql("SELECT 1 AS id").arrow()"""
SPENDERS = ("-- @merge_strategy: full_refresh\n-- @unique_key: customer\n"
            "SELECT customer, sum(amount) AS total FROM {{ ref('silver.orders_clean') }} GROUP BY customer")
RAT = "_rat = get_ipython().magics_manager.registry['RatMagics']\n"
LINE = "get_ipython().run_line_magic('rat', "


def cells(notebook_dir: Path) -> list[tuple[str, str, bool]]:
    """(name, source, raises): one notebook, executed top to bottom in one kernel."""
    return [
        ("load", "%load_ext rat_jupyter.kernel\n%config RatMagics.workers = 1\n"
                 "%config RatMagics.namespace = 'analytics'", False),
        # -- %%rat pipeline
        ("pipe_create", f"%%rat pipeline analytics.gold.big_spenders\n{SPENDERS}", False),
        ("pipe_show", "%rat pipeline gold.big_spenders", False),
        ("pipe_unchanged", f"%%rat pipeline gold.big_spenders\n{SPENDERS}", False),
        ("pipe_publish", f"%%rat pipeline gold.big_spenders --publish -m 'first cut'\n{SPENDERS} HAVING total > 0",
         False),
        ("pipe_typo_ns", "%%rat pipeline analytcs.gold.other\nSELECT 1 AS x", True),
        ("pipe_new_ns", "%%rat pipeline brandnew.gold.other\nSELECT 1 AS x", True),
        ("pipe_empty", "%%rat pipeline gold.other\n   \n", True),
        ("pipe_type_change", "%%rat pipeline gold.big_spenders --type python\nresult = None", True),
        ("pipe_bad_option", "%%rat pipeline gold.other --type rust\nSELECT 1", True),
        ("pipe_jinja_error", "%%rat pipeline gold.other\nSELECT {{ ref( }}", True),
        ("pipe_show_typo", "%rat pipeline gold.big_spender", True),
        ("pipe_from_sql_cell", "%%rat pipeline zoo.silver.animals_copy\n%namespace zoo\n-- @name: kept\n"
                               "SELECT * FROM {{ ref('bronze.animals') }}", False),
        ("test_from_sql_cell", "%%rat test zoo.silver.animals_copy named\n-- @this: zoo.silver.animals_copy\n"
                               "SELECT * FROM {{ this }} WHERE animal IS NULL", False),
        ("pipe_python", f"%%rat pipeline zoo.bronze.busy --type python --publish -m busy\n{BUSY_PY}", False),
        ("run_spenders", "%rat run gold.big_spenders", False),
        # -- %%rat test
        ("test_add", "%%rat test gold.big_spenders has_total --severity warn --run\n"
                     "SELECT * FROM {{ this }} WHERE total IS NULL", False),
        ("test_update", "%%rat test gold.big_spenders has_total\n-- @severity: error\n"
                        "SELECT * FROM {{ this }} WHERE total IS NULL OR total < 0", False),
        ("test_show", "%rat test gold.big_spenders has_total", False),
        ("test_typo_pipeline", "%%rat test gold.big_spender has_total\nSELECT 1", True),
        ("test_bad_severity", "%%rat test gold.big_spenders other --severity fatal\nSELECT 1", True),
        ("test_empty", "%%rat test gold.big_spenders other\n   \n", True),
        ("test_delete_typo", "%rat test gold.big_spenders has_totl --delete", True),
        ("test_listed", RAT + "print([t['name'] for t in _rat.ws.list_tests('analytics', 'gold', 'big_spenders')])",
         False),
        ("test_delete", "%rat test gold.big_spenders has_total --delete", False),
        # -- %rat runs
        ("runs_ns", "%rat runs analytics", False),
        ("runs_trigger", "%rat runs analytics --trigger notebook --status success", False),
        ("runs_pipeline", "%rat runs gold.big_spenders", False),
        ("runs_bad_status", "%rat runs --status bogus", True),
        ("runs_bad_limit", "%rat runs --limit 0", True),
        ("runs_typo_ns", "%rat runs analytic", True),
        ("runs_typo_pipeline", "%rat runs analytics.silver.orders_clen", True),
        # -- %rat logs
        ("logs_last", "%rat logs last", False),
        ("logs_warn", "%rat logs last --level warn", False),
        ("logs_debug", "%rat logs last --level debug", False),
        ("logs_prefix", RAT + "_id = _rat.last_runs[0].id\n" + LINE + "f'logs {_id[:8]}')\nprint('id', _id)", False),
        ("logs_unknown", "%rat logs abcdef012345", True),
        ("logs_not_an_id", "%rat logs no/such", True),
        ("logs_bad_level", "%rat logs last --level loud", True),
        # -- %rat cancel
        ("cancel_start", "%rat run zoo.bronze.busy --timeout 1.5", False),
        ("cancel_wait", RAT + "import time\n_rid, _until = _rat.last_runs[0].id, time.monotonic() + 60\n"
                        "while not any(e['message'] == 'started' for e in _rat.ws.run_logs(_rid)['logs']):\n"
                        "    assert time.monotonic() < _until, _rat.ws.get_run(_rid)\n    time.sleep(0.1)", False),
        ("cancel", "%rat cancel last", False),
        ("cancel_follow", "%rat logs last --follow --timeout 60", False),
        ("cancel_ended", "%rat cancel last", True),
        ("cancel_bad", "%rat cancel", True),
        # -- %rat schedule
        ("sched_create", "%rat schedule create gold.big_spenders 30 6 * * 1-5 --timezone Europe/Paris", False),
        ("sched_bad_cron", "%rat schedule create gold.big_spenders 0 6 * *", True),
        ("sched_bad_range", "%rat schedule create gold.big_spenders '61 * * * *'", True),
        ("sched_bad_tz", "%rat schedule create gold.big_spenders @daily --timezone Mars/Olympus", True),
        ("sched_typo", "%rat schedule create gold.big_spendr @daily", True),
        ("sched_list", "%rat schedule list analytics", False),
        ("sched_disable", RAT + "_sid = _rat.ws.schedules.list_schedules('analytics')[0][0]['id']\n"
                          + LINE + "f'schedule disable {_sid[:6]}')", False),
        ("sched_enable", "%rat schedule enable analytics.gold.big_spenders", False),
        ("sched_unknown", "%rat schedule disable ffffffffffff", True),
        ("sched_no_schedule", "%rat schedule disable zoo.bronze.animals", True),
        ("sched_bad_action", "%rat schedule pause gold.big_spenders", True),
        ("sched_delete", "%rat schedule delete gold.big_spenders", False),
        ("sched_empty", "%rat schedule", False),
        # -- %rat publish / diff
        ("edit", RAT + "_rat.ws.write_file('analytics/pipelines/gold/big_spenders/pipeline.sql', "
                       f"{(SPENDERS + ' HAVING total > 100' + chr(10))!r})", False),
        ("diff", "%rat diff gold.big_spenders", False),
        ("publish_dry", "%rat publish gold.big_spenders --dry-run", False),
        ("publish", "%rat publish gold.big_spenders -m 'only big ones'", False),
        ("publish_nothing", "%rat publish zoo.bronze.animals", False),
        ("publish_typo", "%rat publish zoo.bronze.animal", True),
        # -- did you mean, for the older commands too
        ("run_typo", "%rat run analytics.silver.orders_clen", True),
        ("run_ns_typo", "%rat run analytcs.*", True),
        ("preview_typo", "%rat preview zoo.bronze.animls", True),
        ("tests_typo", "%rat tests silver.orders_clan", True),
        ("ls_typo", "%rat ls zo", True),
        ("lineage_typo", "%rat lineage analytcs", True),
        # -- %rat namespace
        ("ns_create", "%rat namespace create sandbox -d 'for trying things'", False),
        ("ns_exists", "%rat namespace create zoo", True),
        ("ns_exist_ok", "%rat namespace create zoo --exist-ok", False),
        ("ns_list", "%rat namespace", False),
        ("ns_bad_name", "%rat namespace create Bad-Name", True),
        # -- %rat notebook
        ("notebook", f"%rat notebook analytics.silver.orders_clean --path {notebook_dir / 'clean.ipynb'}", False),
        ("notebook_exists", f"%rat notebook analytics.silver.orders_clean --path {notebook_dir / 'clean.ipynb'}",
         True),
        ("notebook_python", f"%rat notebook zoo.bronze.busy --path {notebook_dir / 'busy.ipynb'}", False),
        ("notebook_typo", "%rat notebook analytics.silver.orders_clen", True),
        ("usage", "%rat", False),
        ("complete", "import json\n_ip = get_ipython()\n_lines = ['%rat ru', '%rat run analytics.silver.orders_c', "
                     "'%rat schedule ', '%rat logs la', '%rat runs zo', '%%rat test gold.big_sp', '%rat tests sil']\n"
                     "print(json.dumps({_l: _ip.complete(_l.split(' ')[-1], _l, len(_l))[1] for _l in _lines}))",
         False),
    ]


def error_of(outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The cell's error, with ``kind``: the name its one-line traceback shows (``NotFound``, ``UsageError``…)."""
    (err,) = [o for o in outputs if o["output_type"] == "error"]
    assert len(err["traceback"]) == 1 and "Traceback" not in err["traceback"][0], err["traceback"]
    line = re.sub(r"\x1b\[[0-9;]*m", "", err["traceback"][0])
    kind, _, message = line.partition(": ")
    assert message == err["evalue"], line
    return {**err, "kind": kind}


@pytest.fixture(scope="module")
def notebook_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("notebooks")


@pytest.fixture(scope="module")
def executed(seeded: Seeded, notebook_dir: Path) -> dict[str, list[dict[str, Any]]]:
    nb = new_notebook()
    for name, source, raises in cells(notebook_dir):
        cell = new_code_cell(source, metadata={"name": name})
        if raises:
            cell.metadata["tags"] = ["raises-exception"]
        nb.cells.append(cell)
    NotebookClient(nb, kernel_name="python3", timeout=120, startup_timeout=60).execute(env=seeded.env())
    out = {cell.metadata["name"]: cell.outputs for cell in nb.cells}
    for name, _, raises in cells(notebook_dir):  # a cell expected to work did; one expected to fail did
        errors = [o for o in out[name] if o["output_type"] == "error"]
        assert bool(errors) == raises, (name, text_of(out[name]))
    return out


def test_pipeline_from_a_cell(seeded: Seeded, executed: dict[str, list[dict[str, Any]]]) -> None:
    assert ("Created sql pipeline analytics.gold.big_spenders (draft) with merge_strategy: full_refresh, "
            "unique_key: customer") in text_of(executed["pipe_create"])
    assert text_of(executed["pipe_show"]) == f"%%rat pipeline analytics.gold.big_spenders\n{SPENDERS}\n"
    assert text_of(executed["pipe_unchanged"]).strip() == "analytics.gold.big_spenders: pipeline.sql unchanged"
    published = text_of(executed["pipe_publish"])
    assert "Updated analytics.gold.big_spenders: pipeline.sql (draft)" in published
    assert "+++ draft/pipeline.sql" in published and "never published" in published  # the diff came first
    assert published.index("+++ draft/pipeline.sql") < published.index("Published analytics.gold.big_spenders "
                                                                       "as version 1: first cut")
    (diff,) = [o for o in executed["pipe_publish"] if o["output_type"] == "display_data"]
    assert 'class="add"' in diff["data"]["text/html"]
    assert error_of(executed["pipe_typo_ns"])["evalue"] == "namespace 'analytcs' does not exist; did you mean " \
                                                          "'analytics'?"
    assert error_of(executed["pipe_new_ns"])["evalue"] == ("namespace 'brandnew' does not exist; namespaces: "
                                                           "analytics, zoo (a new one: %rat namespace create brandnew)")
    assert "the cell is empty" in error_of(executed["pipe_empty"])["evalue"]
    assert "is a sql pipeline; --type python cannot change it" in error_of(executed["pipe_type_change"])["evalue"]
    bad = error_of(executed["pipe_bad_option"])
    assert bad["kind"] == "UsageError" and "invalid choice: 'rust'" in bad["evalue"]
    assert "Jinja syntax error at line 1" in error_of(executed["pipe_jinja_error"])["evalue"]
    assert "did you mean 'analytics.gold.big_spenders'?" in error_of(executed["pipe_show_typo"])["evalue"]
    assert "Created python pipeline zoo.bronze.busy" in text_of(executed["pipe_python"])
    assert "Published zoo.bronze.busy as version 1: busy" in text_of(executed["pipe_python"])
    assert "left out the cell's directives: %namespace zoo, -- @name: kept" in text_of(executed["pipe_from_sql_cell"])
    assert "left out the cell's directives: -- @this: zoo.silver.animals_copy" in text_of(
        executed["test_from_sql_cell"])
    with Workspace.open(seeded.settings(), server=False) as ws:
        files = ws.draft_files(ws.pid("zoo", "silver", "animals_copy"))
        assert files["pipeline.sql"] == "SELECT * FROM {{ ref('bronze.animals') }}\n"  # what the cell ran
        assert files["tests/quality/named.sql"] == "SELECT * FROM {{ this }} WHERE animal IS NULL\n"
        row = ws.get_pipeline("analytics", "gold", "big_spenders")
        assert row["published_version"] == 2 and row["type"] == "sql"  # "only big ones" published it again
        files, _ = ws.published_files(ws.pid("analytics", "gold", "big_spenders"), 1)
        assert files["pipeline.sql"] == SPENDERS + " HAVING total > 0\n"
        assert ws.list_versions("analytics", "gold", "big_spenders")[-1]["message"] in ("first cut", "only big ones")
        assert ws.get_pipeline("zoo", "bronze", "busy")["type"] == "python"


def test_quality_test_from_a_cell(executed: dict[str, list[dict[str, Any]]]) -> None:
    added = executed["test_add"]
    assert "Added quality test 'has_total' of analytics.gold.big_spenders (severity warn, draft)" in text_of(added)
    (result,) = [o for o in added if o["output_type"] == "execute_result"]
    assert "1 passed, 0 failed of 1" in result["data"]["text/html"]  # --run ran it against the run's table
    assert "Updated quality test 'has_total' of analytics.gold.big_spenders (severity error" in \
           text_of(executed["test_update"])
    assert "total IS NULL OR total < 0" in text_of(executed["test_show"])
    assert "did you mean 'analytics.gold.big_spenders'?" in error_of(executed["test_typo_pipeline"])["evalue"]
    assert "invalid choice: 'fatal'" in error_of(executed["test_bad_severity"])["evalue"]
    assert "the cell is empty" in error_of(executed["test_empty"])["evalue"]
    assert error_of(executed["test_delete_typo"])["evalue"] == "quality test 'has_totl' not found; did you mean " \
                                                              "'has_total'?"
    assert text_of(executed["test_listed"]).strip() == "['has_total']"
    assert "Deleted quality test 'has_total'" in text_of(executed["test_delete"])


def test_run_history(executed: dict[str, list[dict[str, Any]]]) -> None:
    table = text_of(executed["runs_ns"])
    header = table.splitlines()[0].split()
    assert header == ["run", "pipeline", "status", "trigger", "started", "duration", "ended", "rows", "error"]
    assert "analytics.gold.big_spenders" in table and "notebook" in table and "manual" in table  # seeded: manual
    assert re.search(r"analytics\.gold\.big_spenders\s+success\s+notebook\s+\S+ \S+\s+\d+(\.\d)? m?s", table)
    filtered = text_of(executed["runs_trigger"])
    assert "(status success, trigger notebook)" in filtered and "manual" not in filtered
    only = text_of(executed["runs_pipeline"])
    assert "1 run(s) of gold.big_spenders" in only and "orders_clean" not in only
    assert "invalid choice: 'bogus'" in error_of(executed["runs_bad_status"])["evalue"]
    assert "--limit must be from 1 to 500" in error_of(executed["runs_bad_limit"])["evalue"]
    assert "did you mean 'analytics'?" in error_of(executed["runs_typo_ns"])["evalue"]
    assert "did you mean 'analytics.silver.orders_clean'?" in error_of(executed["runs_typo_pipeline"])["evalue"]


def test_logs(executed: dict[str, list[dict[str, Any]]]) -> None:
    last = text_of(executed["logs_last"])  # the newest run: big_spenders, run by "run_spenders"
    assert last.startswith("run ") and "analytics.gold.big_spenders (notebook)" in last
    assert re.search(r"\d\d:\d\d:\d\d info  Running analytics.gold.big_spenders", last)
    assert "Compiled SQL" not in last and last.rstrip().splitlines()[-1].startswith("status: success after ")
    warn = text_of(executed["logs_warn"])
    assert " info " not in warn and "status: success" in warn
    assert "debug Compiled SQL" in text_of(executed["logs_debug"])
    prefix = text_of(executed["logs_prefix"])
    run_id = prefix.rstrip().splitlines()[-1].split()[-1]
    assert prefix.startswith(f"run {run_id}: ")  # an 8-character prefix found the run
    assert error_of(executed["logs_unknown"])["evalue"] == "run 'abcdef012345' not found"
    assert "is not a run id" in error_of(executed["logs_not_an_id"])["evalue"]
    assert "invalid choice: 'loud'" in error_of(executed["logs_bad_level"])["evalue"]


def test_cancel(executed: dict[str, list[dict[str, Any]]]) -> None:
    assert "still running; the runs continue in the background" in text_of(executed["cancel_start"])
    cancel = text_of(executed["cancel"])
    assert re.match(r"Cancel requested for run \w+ \(zoo\.bronze\.busy, was (running|pending), now \w+\)", cancel)
    follow = text_of(executed["cancel_follow"])
    assert "info  started" in follow and follow.rstrip().splitlines()[-1].startswith("status: cancelled")
    ended = error_of(executed["cancel_ended"])
    assert ended["kind"] == "Conflict" and "already ended (cancelled); nothing to cancel" in ended["evalue"]
    assert "the following arguments are required: run" in error_of(executed["cancel_bad"])["evalue"]


def test_schedules(seeded: Seeded, executed: dict[str, list[dict[str, Any]]]) -> None:
    created = text_of(executed["sched_create"])
    assert re.match(r"Scheduled analytics\.gold\.big_spenders at '30 6 \* \* 1-5' \(Europe/Paris\): schedule \w+, "
                    r"next run \d{4}-\d\d-\d\d (05|04):30:00 UTC", created)  # 06:30 in Paris is 05:30 UTC in winter
    cron = error_of(executed["sched_bad_cron"])["evalue"]
    assert cron.startswith("invalid cron expression '0 6 * *': a cron expression has 5 fields") and "e.g." in cron
    assert "minute 61 is out of range (0-59)" in error_of(executed["sched_bad_range"])["evalue"]
    assert "unknown time zone 'Mars/Olympus'" in error_of(executed["sched_bad_tz"])["evalue"]
    assert "did you mean 'analytics.gold.big_spenders'?" in error_of(executed["sched_typo"])["evalue"]
    listing = text_of(executed["sched_list"])
    assert "30 6 * * 1-5" in listing and "Europe/Paris" in listing and "enabled" in listing
    assert "1 schedule(s) in analytics" in listing
    assert text_of(executed["sched_disable"]).rstrip().endswith("analytics.gold.big_spenders: disabled")
    assert "analytics.gold.big_spenders: enabled, next run" in text_of(executed["sched_enable"])
    assert error_of(executed["sched_unknown"])["evalue"] == "schedule 'ffffffffffff' not found"
    assert error_of(executed["sched_no_schedule"])["evalue"] == "zoo.bronze.animals has no schedule"
    assert "unknown schedule action 'pause'" in error_of(executed["sched_bad_action"])["evalue"]
    assert "Deleted schedule" in text_of(executed["sched_delete"])
    assert "0 schedule(s)" in text_of(executed["sched_empty"])
    with Workspace.open(seeded.settings(), server=False) as ws:
        assert ws.schedules.list_schedules()[1] == 0


def test_publish_shows_the_diff_first(executed: dict[str, list[dict[str, Any]]]) -> None:
    diff = text_of(executed["diff"])
    assert diff.startswith("analytics.gold.big_spenders: draft vs version 1")
    assert "--- v1/pipeline.sql" in diff and "+++ draft/pipeline.sql" in diff
    assert "-" + SPENDERS.splitlines()[-1] + " HAVING total > 0" in diff
    assert "+" + SPENDERS.splitlines()[-1] + " HAVING total > 100" in diff
    dry = text_of(executed["publish_dry"])
    assert "+++ draft/pipeline.sql" in dry and "--dry-run: analytics.gold.big_spenders was not published" in dry
    done = text_of(executed["publish"])
    assert "draft vs version 1" in done and "Published analytics.gold.big_spenders as version 2: only big ones" in done
    assert text_of(executed["publish_nothing"]).strip() == "Nothing to publish: zoo.bronze.animals: the draft is " \
                                                           "version 1"
    assert "did you mean 'zoo.bronze.animals'?" in error_of(executed["publish_typo"])["evalue"]


def test_did_you_mean_everywhere(executed: dict[str, list[dict[str, Any]]]) -> None:
    expected = {
        "run_typo": "pipeline analytics.silver.orders_clen does not exist; did you mean "
                    "'analytics.silver.orders_clean'?",
        "run_ns_typo": "namespace 'analytcs' does not exist; did you mean 'analytics'?",
        "preview_typo": "pipeline zoo.bronze.animls does not exist; did you mean 'zoo.bronze.animals'?",
        "tests_typo": "pipeline analytics.silver.orders_clan does not exist; did you mean "
                      "'analytics.silver.orders_clean'?",
        "ls_typo": "namespace 'zo' does not exist; did you mean 'zoo'?",
        "lineage_typo": "namespace 'analytcs' does not exist; did you mean 'analytics'?",
        "notebook_typo": "pipeline analytics.silver.orders_clen does not exist; did you mean "
                         "'analytics.silver.orders_clean'?",
    }
    for cell, message in expected.items():
        err = error_of(executed[cell])
        assert (err["kind"], err["evalue"]) == ("NotFound", message), cell


def test_namespaces(executed: dict[str, list[dict[str, Any]]]) -> None:
    assert text_of(executed["ns_create"]).strip() == "Created namespace sandbox"
    assert error_of(executed["ns_exists"])["evalue"] == "namespace 'zoo' already exists"
    assert text_of(executed["ns_exist_ok"]).strip() == "Namespace zoo exists already"
    listing = text_of(executed["ns_list"])
    assert "for trying things" in listing and "3 namespace(s)" in listing
    assert "invalid namespace 'Bad-Name'" in error_of(executed["ns_bad_name"])["evalue"]
    usage = text_of(executed["usage"])
    for command in ("%%rat pipeline", "%%rat test", "%rat runs", "%rat logs", "%rat cancel", "%rat schedule",
                    "%rat publish", "%rat diff", "%rat notebook", "%rat namespace"):
        assert command in usage, command


def test_tab_completion_of_subcommands_and_names(executed: dict[str, list[dict[str, Any]]]) -> None:
    import json

    got = {line: set(matches) for line, matches in json.loads(text_of(executed["complete"])).items()}
    assert {"run", "runs"} <= got["%rat ru"]
    assert "analytics.silver.orders_clean" in got["%rat run analytics.silver.orders_c"]
    assert {"list", "create", "enable", "disable", "delete"} <= got["%rat schedule "]
    assert "last" in got["%rat logs la"]
    assert {"zoo", "zoo.bronze.animals"} <= got["%rat runs zo"]
    assert "gold.big_spenders" in got["%%rat test gold.big_sp"]  # the current namespace's short names
    assert "silver.orders_clean" in got["%rat tests sil"]


def test_open_pipeline_in_notebook_runs_in_the_rat_sql_kernel(
        seeded: Seeded, executed: dict[str, list[dict[str, Any]]], notebook_dir: Path,
        kernelspecs: KernelSpecManager) -> None:  # noqa: F811
    assert "Wrote " in text_of(executed["notebook"]) and "(RAT SQL)" in text_of(executed["notebook"])
    assert "exists; use --force" in error_of(executed["notebook_exists"])["evalue"]
    nb = nbformat.read(notebook_dir / "clean.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "rat_sql"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.metadata.get("rat", {}).get("role") for c in code] == [None, "pipeline", "test"]
    assert code[1].source == seeded_source("analytics.silver.orders_clean")
    assert code[2].metadata.rat["test"] == "positive_amount" and code[2].source.startswith(
        "-- @this: silver.orders_clean\n")
    km = KernelManager(kernel_name="rat_sql", kernel_spec_manager=kernelspecs)
    NotebookClient(nb, km=km, timeout=60, startup_timeout=60).execute(env=seeded.env())
    (pipeline_result,) = [o for o in code[1].outputs if o["output_type"] == "execute_result"]
    assert len(pipeline_result["data"][DATARESOURCE]["data"]) == 16  # what the pipeline writes: ids 5..20
    (test_result,) = [o for o in code[2].outputs if o["output_type"] == "execute_result"]
    assert "0 rows" in test_result["data"]["text/html"]  # the test's SQL ran on the table: no violations
    python_nb = nbformat.read(notebook_dir / "busy.ipynb", as_version=4)
    assert python_nb.metadata.kernelspec.name == "python3"
    assert python_nb.cells[2].source.startswith("%%rat pipeline zoo.bronze.busy\n# @merge_strategy: full_refresh")


def seeded_source(key: str) -> str:
    from tests.kernel.conftest import SOURCES

    return SOURCES[key].rstrip("\n")


def test_pipeline_notebook_python_api(seeded: Seeded, executed: dict[str, list[dict[str, Any]]],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """``pipeline_notebook`` for a front end: its own read-only workspace when given none; errors; the Python
    flavour, executed: saving the pipeline cell changes nothing, the preview and the test run."""
    for name in ("RAT_SETTINGS", "RAT_SERVER", "RAT_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAT_DATA_DIR", str(seeded.data_dir))
    nb = pipeline_notebook("analytics", "silver", "orders_clean")
    assert nb.metadata.rat["pipeline"] == "analytics.silver.orders_clean" and nb.metadata.rat["version"] == "draft"
    with Workspace.open(seeded.settings(), server=False) as ws:
        with pytest.raises(NotFound, match=r"did you mean 'analytics\.silver\.orders_clean'\?"):
            pipeline_notebook("analytics", "silver", "orders_clen", workspace=ws)
        with pytest.raises(Invalid, match="is a Python pipeline: open it in a Python notebook"):
            pipeline_notebook("zoo", "bronze", "busy", workspace=ws, kernel="rat_sql")
        with pytest.raises(Invalid, match="version must be 'draft' or 'published'"):
            pipeline_notebook("zoo", "bronze", "animals", workspace=ws, version="v1")
        assert pipeline_notebook("zoo", "bronze", "animals", workspace=ws,
                                 version="published").metadata.rat["version"] == "1"
        python_nb = pipeline_notebook("analytics", "silver", "orders_clean", workspace=ws, kernel="python3")
    nbformat.validate(python_nb)
    NotebookClient(python_nb, kernel_name="python3", timeout=120, startup_timeout=60).execute(env=seeded.env())
    code = [c for c in python_nb.cells if c.cell_type == "code"]
    assert [c.metadata.get("rat", {}).get("role") for c in code] == [None, "pipeline", None, "test", None]
    assert "analytics.silver.orders_clean: pipeline.sql unchanged" in text_of(code[1].outputs)
    assert "16 rows" in text_of(code[2].outputs)
    assert "Quality test 'positive_amount' of analytics.silver.orders_clean unchanged" in text_of(code[3].outputs)
    assert "1 passed, 0 failed of 1" in text_of(code[3].outputs)
    assert "the draft is version 1" in text_of(code[4].outputs)


def test_a_client_whose_server_is_gone_says_so_and_can_cancel(seeded: Seeded) -> None:
    """A kernel told a server owns the data (``RAT_SERVER``) while none claims runs: ``%rat logs --follow`` says
    what it waits for instead of hanging silently, and ``%rat cancel`` ends the pending run."""
    nb = new_notebook()
    sources = [
        "%load_ext rat_jupyter.kernel\nimport rat_jupyter.kernel.commands as _c, rat_jupyter.kernel.magics as _m\n"
        "_c.PENDING_HINT_SECONDS = _m.PENDING_HINT_SECONDS = 0.3",
        "%rat run zoo.bronze.animals --timeout 1",
        "%rat logs last --follow --timeout 1.5",
        "%rat cancel last",
        "%rat runs zoo --limit 1",
    ]
    nb.cells = [new_code_cell(s) for s in sources]
    env = seeded.env(RAT_SERVER='{"pid": 1, "url": "http://gone.example:8888/"}')
    NotebookClient(nb, kernel_name="python3", timeout=60, startup_timeout=60).execute(env=env)
    run, follow, cancel, runs = (text_of(c.outputs) for c in nb.cells[1:])
    assert "waiting for http://gone.example:8888/ to start the run(s)" in run
    assert "still pending: waiting for http://gone.example:8888/ to start it" in follow
    assert "still pending; stopped following after 1.5 s" in follow
    assert re.search(r"Cancel requested for run \w+ \(zoo\.bronze\.animals, was pending, now cancelled\)", cancel)
    assert re.search(r"zoo\.bronze\.animals\s+cancelled\s+notebook", runs), runs


def test_a_sql_cell_is_saved_without_its_cell_directives() -> None:
    text, dropped = cell_to_file("\n%namespace zoo\n-- @name: kept\n-- @merge_strategy: full_refresh\n"
                                 "SELECT 1 AS x -- @name: not a directive here\n%not_leading")
    assert text == "-- @merge_strategy: full_refresh\nSELECT 1 AS x -- @name: not a directive here\n%not_leading\n"
    assert dropped == ["%namespace zoo", "-- @name: kept"]
    assert cell_to_file("-- @this: silver.x\n-- @severity: warn\nSELECT * FROM {{ this }}") == (
        "-- @severity: warn\nSELECT * FROM {{ this }}\n", ["-- @this: silver.x"])
    assert cell_to_file("SELECT 1\n") == ("SELECT 1\n", [])
