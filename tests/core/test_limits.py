"""Limits of the query service and of templates, checked in-process (the API tests cover the server)."""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

import pytest

from rat_jupyter.core.errors import TemplateError
from rat_jupyter.core.query import QueryError, QueryLimit, QueryService, QueryTimeout, parse_bytes
from rat_jupyter.core.settings import Settings
from rat_jupyter.core.templating import MAX_TEMPLATE_BYTES, RenderContext, check_syntax, render


class _NoCatalog:
    def locations(self) -> dict[Any, str]:
        return {}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> QueryService:
    settings = Settings(data_dir=tmp_path_factory.mktemp("q"), query_memory_limit="500MB", query_timeout_seconds=5)
    svc = QueryService(settings, _NoCatalog())
    yield svc
    svc.close()


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("sql", [
    "SELECT len(list_sort(range(300000000)))",
    "SELECT length(repeat('x', 1500000000))",
    "SELECT length(repeat('abcdefghij', 2000000))",  # 20 MB from a 2M count: the literal's length counts
    "SELECT generate_series(1, 10**12)",
    "SELECT range(0, 1e15, 1)",
    "SELECT lpad('x', 2000000000, 'y')",
    "SELECT list_resize([1], 3000000000)",
    "SELECT printf('%999999999d', 1)",
    "SELECT format('{:>99999999}', 1)",
    "SELECT bar(5, 0, 10, 1000000000)",
    "SELECT repeat('x', n) FROM (SELECT 5 AS n)",  # a size the check cannot see is refused too
])
def test_unbounded_allocations_are_refused_before_they_run(service: QueryService, sql: str) -> None:
    before = _peak_mib()
    start = time.perf_counter()
    with pytest.raises(QueryError) as err:
        service.execute(sql)
    assert time.perf_counter() - start < 0.5
    assert err.value.status == 400 and err.value.code == "QUERY_ERROR"
    assert _peak_mib() - before < 50


def test_bounded_uses_of_the_same_functions_work(service: QueryService) -> None:
    out = service.execute("SELECT len(list_sort(range(1000))) AS n, repeat('ab', 3) AS r, lpad('7', 3, '0') AS p,"
                          " generate_series(1, 3) AS g, printf('%05d', 42) AS f, sum(x) AS s"
                          " FROM range(10) t(x)")
    assert out["rows"] == [{"n": 1000, "r": "ababab", "p": "007", "g": [1, 2, 3], "f": "00042", "s": 45}]
    # a table function streams: large ranges are fine there (the timeout bounds them)
    assert service.execute("SELECT count(*) AS c FROM range(20000000)")["rows"] == [{"c": 20000000}]


def test_growth_past_the_memory_limit_is_stopped(service: QueryService) -> None:
    start = time.perf_counter()
    with pytest.raises(QueryLimit) as err:
        service.execute("SELECT length(string_agg(repeat('x', 9000000), ',')) FROM range(1000)")
    assert err.value.status == 413 and "500MB" in err.value.message
    assert time.perf_counter() - start < 5
    assert service.memory is not None and service.memory.peak_bytes < service.memory.ceiling + 200 * 1024**2


def test_the_timeout_interrupts_at_the_deadline(service: QueryService) -> None:
    start = time.perf_counter()
    with pytest.raises(QueryTimeout):
        service.execute("SELECT count(*) FROM range(100000000) a, range(100000) b WHERE a.range + b.range = 7",
                        timeout=1.0)
    assert time.perf_counter() - start < 3


def test_results_are_capped_in_bytes(service: QueryService) -> None:
    out = service.execute("SELECT repeat('x', 1000000) AS big FROM range(100)", limit=100)
    assert out["truncated"] is True and 0 < out["total_rows"] < 100
    assert out["matched_rows"] == 100


def test_a_truncated_result_is_counted_only_within_the_time_left(service: QueryService) -> None:
    """The count of a truncated result runs under the same deadline: a result too big to count in time is
    still answered, with its rows and no count."""
    start = time.perf_counter()
    out = service.execute("SELECT a.range AS x FROM range(100000000) a, range(100000) b", limit=5, timeout=2.0)
    assert (len(out["rows"]), out["truncated"], out["matched_rows"]) == (5, True, None)
    assert time.perf_counter() - start < 4
    assert service.execute("SELECT * FROM range(10)", limit=5, count=False)["matched_rows"] is None


def test_numbers_come_back_as_numbers_and_odd_dates_as_text(service: QueryService) -> None:
    out = service.execute("SELECT sum(x) AS s, sum(x::HUGEINT) AS h, avg(x) AS a, 1.25::DECIMAL(6, 2) AS d,"
                          " DATE '-5000-01-01' AS old, 'infinity'::TIMESTAMP AS inf FROM range(4) t(x)")
    row = out["rows"][0]
    assert (row["s"], row["h"], row["a"], row["d"]) == (6, 6, 1.5, 1.25)
    assert isinstance(row["s"], int) and row["old"] == "-5000-01-01" and isinstance(row["inf"], str)


def test_system_views_are_refused_and_errors_hide_paths(service: QueryService, tmp_path: Path) -> None:
    for sql in ("SELECT * FROM pg_settings", "SELECT * FROM information_schema.views",
                "SELECT * FROM system.main.duckdb_views()", "SELECT * FROM sqlite_master"):
        with pytest.raises(QueryError):
            service.execute(sql)
    data = str(service.settings.data_dir)
    for sql in ("SELECT * FROM duckdb_views()", "SELECT * FROM duckdb_functions() WHERE macro_definition IS NOT NULL"):
        assert data not in str(service.execute(sql, limit=100000))
    assert service.scrub(f"cannot open {data}/warehouse/x.json") == "cannot open warehouse/x.json"


def test_memory_sizes_read_like_duckdb() -> None:
    assert parse_bytes("1GB") == 10**9 and parse_bytes("512 MiB") == 512 * 1024**2
    with pytest.raises(Exception, match="invalid memory size"):
        parse_bytes("lots")


# -- templates -------------------------------------------------------------------------------------
def test_templates_do_no_arithmetic_at_compile_time() -> None:
    start = time.perf_counter()
    check_syntax("SELECT {{ 7**(10**7) }}")  # Jinja would fold this while compiling
    check_syntax("SELECT {{ (10**5000)|string }}")
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("source", [
    "{{ 7**(10**7) }}", "{{ (10**5000)|string }}", "{{ 2**4000 * 2**4000 }}", "{{ 'x' * 10**9 }}",
    "{{ [0] * 10**9 }}", "{{ 'x'.ljust(10**9) }}", "{{ '{:>999999999}'.format(1) }}", "{{ '%999999999d' % 1 }}",
    "{{ 'x'|center(1000000000) }}", "{{ 'x'|indent(1000000000, true) }}",
    "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
    "{{ lipsum(n=1000000) }}", "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", "{{ " + "9" * 10000 + " }}",
])
def test_hostile_templates_are_refused_quickly(source: str) -> None:
    before = _peak_mib()
    start = time.perf_counter()
    with pytest.raises(TemplateError) as err:
        render(source, RenderContext(namespace="ns"))
    assert err.value.status == 400
    assert time.perf_counter() - start < 1.5, source[:40]
    assert _peak_mib() - before < 100


def test_a_template_that_spins_is_stopped_by_the_time_budget() -> None:
    start = time.perf_counter()
    with pytest.raises(TemplateError, match="longer than"):
        render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
               RenderContext(namespace="ns"))
    assert time.perf_counter() - start < 7


def test_huge_templates_are_refused_without_being_compiled() -> None:
    before = _peak_mib()
    source = "SELECT 1 -- " + "y" * (200 * 1024 * 1024)
    start = time.perf_counter()
    with pytest.raises(TemplateError, match="larger than"):
        check_syntax(source)
    with pytest.raises(TemplateError, match="larger than"):
        render(source, RenderContext(namespace="ns"))
    assert time.perf_counter() - start < 1
    del source
    assert _peak_mib() - before < 450  # the 200 MB string itself (and its one UTF-8 copy at most)
    check_syntax("SELECT 1 -- " + "y" * (MAX_TEMPLATE_BYTES - 100))


def test_ordinary_templates_still_render() -> None:
    out = render("SELECT {{ 2**10 }}, {{ 3 * 4 }}, '{{ 'a' ~ 'b' }}', {{ -5 }}, {{ 10 // 3 }}, '{{ 'x' * 3 }}',"
                 " '{{ '%05d' % 3 }}', {{ ref('silver.t') }}, '{{ [1, 2]|join(',') }}', '{{ 'ab'|center(6) }}'"
                 "{% for i in range(3) %}, {{ i }}{% endfor %}",
                 RenderContext(namespace="ns"))
    assert out.sql == "SELECT 1024, 12, 'ab', -5, 3, 'xxx', '00003', \"ns\".\"silver\".\"t\", '1,2', '  ab  ', 0, 1, 2"
