"""Bad input is a clear domain error at save/validate time, and nothing is written."""

from __future__ import annotations

import pytest

from rat_jupyter.core.config import build_config, parse_annotations
from rat_jupyter.core.dag import DAG
from rat_jupyter.core.errors import Conflict, CycleError, Invalid, NotFound, TemplateError, Unprocessable
from rat_jupyter.core.names import PipelineId, validate_namespace, validate_path
from rat_jupyter.core.pipelines import parse_test
from rat_jupyter.core.templating import RenderContext, lint, render
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline


@pytest.mark.parametrize("name", ["", "A", "1abc", "a-b", "a b", "a.b", "é", "a" * 129, "_x", "x;drop"])
def test_invalid_names_are_rejected(workspace: Workspace, name: str) -> None:
    with pytest.raises(Invalid):
        workspace.create_namespace(name)
    assert name not in [n["name"] for n in workspace.list_namespaces()]


@pytest.mark.parametrize("name", ["main", "system", "temp", "memory", "default", "select"])
def test_reserved_namespaces_are_rejected_with_a_reason(name: str) -> None:
    with pytest.raises(Invalid, match="reserved"):
        validate_namespace(name)


def test_invalid_layer_and_pipeline_names(workspace: Workspace, ns: str) -> None:
    with pytest.raises(Invalid, match="layer"):
        workspace.create_pipeline(ns, "platinum", "x", source="SELECT 1")
    with pytest.raises(Invalid, match="pipeline name"):
        workspace.create_pipeline(ns, "bronze", "Bad-Name", source="SELECT 1")
    with pytest.raises(NotFound):
        workspace.create_pipeline("nosuchns", "bronze", "x", source="SELECT 1")
    assert workspace.list_pipelines(ns)[1] == 0


@pytest.mark.parametrize("path", ["../etc/passwd", "a/../../b", "/etc/passwd", "a\\b", "a\x00b", "%2e%2e/x",
                                  "a/%2E%2E/b", "%252e%252e/x", "a//b", "a/./b", "C:/x", "a/b/", ""])
def test_traversal_and_odd_paths_are_rejected(workspace: Workspace, ns: str, path: str) -> None:
    with pytest.raises(Invalid):
        validate_path(path)
    with pytest.raises(Invalid):
        workspace.write_file(path, "x")


def test_files_outside_a_known_namespace_are_rejected(workspace: Workspace) -> None:
    with pytest.raises(Invalid):
        workspace.write_file("Not-A-Namespace/x.txt", "x")


def test_unknown_config_key_is_a_warning_not_an_error(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", "-- @materialise: table\nSELECT 1 AS v", publish=False)
    report = workspace.validate_pipeline(ns, "silver", "t")
    assert report["valid"]
    assert any("unknown config key 'materialise'" in w for f in report["files"] for w in f["warnings"])
    out = workspace.write_file(f"{ns}/pipelines/silver/t/config.yaml", "colour: blue\n")
    assert any("colour" in w for w in out["warnings"])


@pytest.mark.parametrize("source, message", [
    ("-- @merge_strategy: upsert_all\nSELECT 1", "unknown merge_strategy 'upsert_all'"),
    ("-- @merge_strategy: incremental\nSELECT 1", "needs a unique_key"),
    ("-- @merge_strategy: scd2\nSELECT 1", "needs a unique_key"),
    ("-- @merge_strategy: delete_insert\nSELECT 1", "needs a unique_key"),
    ("-- @merge_strategy: snapshot\nSELECT 1", "needs a partition_column"),
    ("-- @materialized: view\nSELECT 1", "only 'table'"),
    ("-- @unique_key: id; drop table x\n-- @merge_strategy: incremental\nSELECT 1", "invalid unique_key"),
    ("-- @max_retries: lots\nSELECT 1", "must be a number"),
    ("SELECT {{ ref('silver.x' }}", "Jinja syntax error at line 1"),
    ("SELECT 1\n{% if %}", "Jinja syntax error at line 2"),
    ("SELECT {{ ref('a.b.c.d') }}", "not a pipeline reference"),
])
def test_bad_pipeline_source_is_refused_and_nothing_is_written(workspace: Workspace, ns: str, source: str,
                                                               message: str) -> None:
    with pytest.raises(Invalid, match=message.replace("(", r"\(").replace(")", r"\)")):
        workspace.create_pipeline(ns, "silver", "bad", source=source)
    assert workspace.list_pipelines(ns)[1] == 0
    assert workspace.storage.list(f"{ns}/") == []


def test_saving_an_invalid_file_keeps_the_previous_one(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", "SELECT 1 AS v")
    path = f"{ns}/pipelines/silver/t/pipeline.sql"
    with pytest.raises(TemplateError, match="line 2"):
        workspace.write_file(path, "SELECT 1\n{{ broken")
    with pytest.raises(Invalid, match="unknown merge_strategy"):
        workspace.write_file(f"{ns}/pipelines/silver/t/config.yaml", "merge_strategy: nope\n")
    with pytest.raises(Invalid, match="not valid YAML"):
        workspace.write_file(f"{ns}/pipelines/silver/t/config.yaml", "a: [unclosed\n")
    with pytest.raises(Invalid, match="severity"):
        workspace.write_file(f"{ns}/pipelines/silver/t/tests/quality/x.sql", "-- @severity: fatal\nSELECT 1")
    assert workspace.read_file(path)["content"] == "SELECT 1 AS v"
    assert not workspace.storage.exists(f"{ns}/pipelines/silver/t/config.yaml")
    assert workspace.get_pipeline(ns, "silver", "t")["draft_dirty"] is False


def test_publishing_an_invalid_draft_is_unprocessable(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", "SELECT 1 AS v")
    # a file written behind the API's back (e.g. directly to S3) is caught at publish
    workspace.storage.write(f"{ns}/pipelines/silver/t/pipeline.sql", b"SELECT {{ oops")
    with pytest.raises(Unprocessable) as info:
        workspace.publish_pipeline(ns, "silver", "t")
    assert info.value.details["validation"]["valid"] is False
    assert [v["version"] for v in workspace.list_versions(ns, "silver", "t")] == [1]


def test_sql_grammar_errors_are_reported_at_their_line_and_block_publish(workspace: Workspace, ns: str) -> None:
    """Validate parses the rendered SQL (both is_incremental() branches); a save of a half-written draft is kept."""
    make_pipeline(workspace, ns, "bronze", "src", "SELECT 1 AS id")
    make_pipeline(workspace, ns, "silver", "g", "SELECT 1 AS v")
    path = f"{ns}/pipelines/silver/g/pipeline.sql"
    broken = ("-- @merge_strategy: incremental\n-- @unique_key: id\nSELECT id\n"
              "FROM {{ ref('bronze.src') }}\n{% if is_incremental() %}\nWHER id > {{ watermark_value }}\n"
              "{% endif %}\n")
    workspace.write_file(path, broken)  # saved: drafts may be half written
    report = workspace.validate_pipeline(ns, "silver", "g")
    assert report["valid"] is False
    errors = [e for f in report["files"] if f["path"] == "pipeline.sql" for e in f["errors"]]
    assert len(errors) == 1 and errors[0] == 'SQL syntax error at line 6: syntax error at or near "id"'
    with pytest.raises(Unprocessable):
        workspace.publish_pipeline(ns, "silver", "g")
    assert [v["version"] for v in workspace.list_versions(ns, "silver", "g")] == [1]

    workspace.write_file(path, "SELECT id,\n  count(*) AS n\nFROM {{ ref('bronze.src') }}\nGROUP BY")
    errors = [e for f in workspace.validate_pipeline(ns, "silver", "g")["files"] for e in f["errors"]]
    assert errors == ["SQL syntax error at line 4: syntax error at end of input"]

    fixed = broken.replace("WHER id", "WHERE id")  # an unquoted watermark parses too
    workspace.write_file(path, fixed)
    assert workspace.validate_pipeline(ns, "silver", "g")["valid"] is True
    workspace.publish_pipeline(ns, "silver", "g")


def test_duplicates_conflict(workspace: Workspace, ns: str) -> None:
    with pytest.raises(Conflict):
        workspace.create_namespace(ns)
    make_pipeline(workspace, ns, "silver", "t", "SELECT 1", publish=False)
    with pytest.raises(Conflict):
        workspace.create_pipeline(ns, "silver", "t", source="SELECT 2")
    workspace.save_test(ns, "silver", "t", "a", "SELECT 1 WHERE false")
    with pytest.raises(Conflict):
        workspace.save_test(ns, "silver", "t", "a", "SELECT 1 WHERE false")


def test_both_source_files_is_invalid(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", "SELECT 1", publish=False)
    workspace.storage.write(f"{ns}/pipelines/silver/t/pipeline.py", b"result = None")
    report = workspace.validate_pipeline(ns, "silver", "t")
    assert not report["valid"]
    assert any("both pipeline.sql and pipeline.py" in e for f in report["files"] for e in f["errors"])


def test_deleted_pipeline_name_can_be_reused(workspace: Workspace, ns: str) -> None:
    make_pipeline(workspace, ns, "silver", "t", "SELECT 1 AS v")
    workspace.delete_pipeline(ns, "silver", "t")
    with pytest.raises(NotFound):
        workspace.get_pipeline(ns, "silver", "t")
    make_pipeline(workspace, ns, "silver", "t", "SELECT 2 AS v", publish=False)
    assert workspace.get_pipeline(ns, "silver", "t")["published_version"] is None


# -- pure units --------------------------------------------------------------------------------------------


def test_annotations_stop_at_the_first_statement_and_keep_line_numbers() -> None:
    found, body = parse_annotations("-- @merge_strategy: incremental\n-- a comment\n-- @unique_key: id\n"
                                    "SELECT 1\n-- @description: ignored\n")
    assert found == {"merge_strategy": "incremental", "unique_key": "id"}
    assert body.count("\n") == 5 and "SELECT 1" in body.splitlines()[3]


def test_annotations_override_config_yaml_per_key() -> None:
    config = build_config("merge_strategy: incremental\nunique_key: [a, b]\ndescription: yaml\n",
                          {"description": "annotation"})
    assert config.unique_key == ("a", "b") and config.description == "annotation"
    assert config.merge_strategy == "incremental"


def test_render_records_refs_and_uses_strict_undefined() -> None:
    ctx = RenderContext(namespace="sales", pipeline=PipelineId("sales", "gold", "g"))
    out = render("SELECT * FROM {{ ref('silver.a') }} JOIN {{ ref('other.bronze.b') }} ON 1=1 -- {{ this }}", ctx)
    assert out.sql == 'SELECT * FROM "sales"."silver"."a" JOIN "other"."bronze"."b" ON 1=1 -- "sales"."gold"."g"'
    assert out.refs == [PipelineId("sales", "silver", "a"), PipelineId("other", "bronze", "b")]
    assert out.uses_this
    with pytest.raises(TemplateError, match="line 2"):
        render("SELECT 1\nFROM {{ typo_name }}", ctx)


def test_sandbox_blocks_python_internals() -> None:
    ctx = RenderContext(namespace="sales")
    with pytest.raises(TemplateError):
        render("{{ ref.__globals__ }}", ctx)


def test_lint_warns_about_bare_ref_outside_braces() -> None:
    assert lint("SELECT * FROM ref('silver.a')")
    assert not lint("SELECT * FROM {{ ref('silver.a') }} -- ref('x') in a comment")


def test_dag_orders_deterministically_and_names_cycles() -> None:
    dag: DAG[str] = DAG()
    dag.add("c", ["b"])
    dag.add("b", ["a"])
    dag.add("d", ["a"])
    assert dag.topological() == ["a", "b", "d", "c"]
    assert dag.closure_down("b") == {"b", "c"}
    assert dag.closure_up("c") == {"a", "b", "c"}
    dag.add("a", ["c"])
    with pytest.raises(CycleError) as info:
        dag.topological()
    assert info.value.cycle == ["a", "b", "c", "a"]
    assert dag.cycle_through("d") is None
    assert dag.topological(["d"]) == ["d"]


def test_critical_first_starts_the_chain_the_dag_waits_on_before_the_leaves_beside_it() -> None:
    dag: DAG[str] = DAG()
    dag.add("bronze.orders")
    dag.add("silver.clean", ["bronze.orders"])
    for leaf in ("gold.a", "gold.b", "gold.c"):  # sort before silver.*, as gold leaves do in a real project
        dag.add(leaf, ["silver.clean"])
    dag.add("silver.customers", ["silver.clean"])
    dag.add("silver.facts", ["silver.customers"])
    dag.add("gold.x", ["silver.facts"])
    dag.add("gold.y", ["silver.facts"])
    level = dag.topological()
    assert level.index("gold.c") < level.index("silver.customers")  # level order: the leaves first
    order = dag.critical_first()
    assert order == ["bronze.orders", "silver.clean", "silver.customers", "silver.facts",
                     "gold.a", "gold.b", "gold.c", "gold.x", "gold.y"]
    for node in order:  # still upstream first
        assert all(order.index(up) < order.index(node) for up in dag.upstream(node))
    # heights count only the chosen nodes: without the chain, the leaves are ordered by name
    assert dag.critical_first(["gold.b", "silver.customers", "gold.a"]) == ["gold.a", "gold.b", "silver.customers"]
    assert dag.critical_first(["silver.clean", "silver.customers", "gold.a", "silver.facts"]) == [
        "silver.clean", "silver.customers", "gold.a", "silver.facts"]  # equal heights: by name
    dag.add("bronze.orders", ["gold.y"])
    with pytest.raises(CycleError):
        dag.critical_first()


def test_quality_test_annotations() -> None:
    t = parse_test("uniq", "-- @severity: warning\n-- @tags: PII, Core\n-- @description: d\nSELECT 1")
    assert (t.severity, t.tags, t.description) == ("warn", ("pii", "core"), "d")
    with pytest.raises(Invalid):
        parse_test("Bad-Name", "SELECT 1")


def test_settings_round_trip_through_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from rat_jupyter.core.settings import ENV_SETTINGS, S3Options, Settings

    original = Settings(data_dir=tmp_path, storage_url="s3://bucket/p", concurrency=3,
                        s3=S3Options(endpoint="http://127.0.0.1:9", access_key_id="k", secret_access_key="s"),
                        catalog_properties={"a": "b"})
    monkeypatch.setenv(ENV_SETTINGS, original.to_json())
    assert Settings.from_env() == original
    monkeypatch.delenv(ENV_SETTINGS)
    monkeypatch.setenv("RAT_DATA_DIR", str(tmp_path / "x"))
    assert Settings.from_env().data_dir == (tmp_path / "x").resolve()


@pytest.mark.parametrize("yaml_text, message", [
    ("- a\n- b\n", "must be a mapping"),
    ("archive_landing_zones: maybe\n", "true or false"),
    ("max_retries: -1\n", "must not be negative"),
    ("max_retries: 11\n", "at most 10"),
    ("unique_key: {a: 1}\n", "list or a comma-separated string"),
    ("partition_by: a\n", "list of"),
    ("partition_by: [{transform: day}]\n", "needs a 'column'"),
    ("partition_by: [{column: d, transform: week}]\n", "invalid partition transform"),
    ("description: [1, 2]\n", "description"),
    ("watermark_column: 'x y'\n", "invalid watermark_column"),
])
def test_invalid_config_yaml_values_are_errors(yaml_text: str, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        build_config(yaml_text)


def test_config_yaml_accepts_the_documented_forms() -> None:
    config = build_config("merge_strategy: snapshot\npartition_column: day\narchive_landing_zones: 'yes'\n"
                          "partition_by: [day, {column: ts, transform: month}]\nretry_delay_seconds: 2.5\n")
    assert config.archive_landing_zones is True and config.retry_delay_seconds == 2.5
    assert [(p.column, p.transform) for p in config.partition_by] == [("day", "identity"), ("ts", "month")]
    assert config.to_dict()["partition_by"][1] == {"column": "ts", "transform": "month"}
    with pytest.raises(Invalid, match=r"only be set in config\.yaml"):
        build_config("", {"partition_by": "x"})
    assert build_config(None) == build_config("")
