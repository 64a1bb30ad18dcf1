"""Fuzz the whole API against a real server: bodies, paths and queries generated from the OpenAPI document
(valid and invalid ones), plus hostile variants for every operation with a JSON body — deep nesting, lone
surrogates, integers beyond 64 bits, numbers beyond double range, megabyte strings, over-long names.

Passes when no reply is a 5xx, no reply carries a traceback, and the server log holds no traceback. Bounded
in time (``RAT_FUZZ_SECONDS``, default 130 s of fuzzing after a ~30 s server start) so the suite fits in
``make test`` on two cores (about 3 minutes).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from .conftest import FuzzServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FUZZ_SECONDS = float(os.environ.get("RAT_FUZZ_SECONDS", "130"))
EXAMPLES = int(os.environ.get("RAT_FUZZ_EXAMPLES", "12"))  # per operation and generation mode
TIMEOUT = 20  # seconds per request; an answer that takes longer is a failure too


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def check(self, label: str, status: int, text: str) -> None:
        self.requests += 1
        self.statuses[status] += 1
        if status >= 500:
            self.failures.append(f"{label} -> {status}: {text[:300]}")
        elif "Traceback (most recent call last)" in text:
            self.failures.append(f"{label} -> {status} with a traceback: {text[:300]}")


def _operations() -> list[Any]:
    schema = schemathesis.openapi.from_path(str(ROOT / "openapi.json"))
    return [r.ok() for r in schema.get_all_operations()]


def _is_stream(op: Any) -> bool:
    return op.path.endswith("/logs")  # SSE when asked; the JSON variant is fuzzed with a plain Accept


def _send(server: FuzzServer, tally: Tally, label: str, method: str, url: str, **kwargs: Any) -> None:
    try:
        resp = requests.request(method, url, headers={**server.headers, **kwargs.pop("headers", {})},
                                timeout=TIMEOUT, **kwargs)
    except requests.exceptions.Timeout:
        tally.requests += 1
        tally.failures.append(f"{label} -> no answer within {TIMEOUT} s")
        return
    except requests.exceptions.ConnectionError as exc:
        tally.requests += 1
        tally.failures.append(f"{label} -> connection error {exc}")
        return
    tally.check(label, resp.status_code, resp.text)


def _generated(server: FuzzServer, tally: Tally, op: Any, mode: Any, stop_at: float) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        if time.monotonic() > stop_at:
            return
        headers = {"Accept": "application/json"}
        try:
            resp = case.call(base_url=server.origin, headers={**server.headers, **headers}, timeout=TIMEOUT)
        except requests.exceptions.Timeout:
            tally.requests += 1
            tally.failures.append(f"{op.label} [{mode.value}] -> no answer within {TIMEOUT} s")
            return
        tally.check(f"{op.label} [{mode.value}] body={str(case.body)[:120]!r}", resp.status_code, resp.text)

    try:
        run()
    except Unsatisfiable:
        pass  # e.g. no invalid input exists for an operation without parameters


LONG_NAME = "n" * 300
HOSTILE_VALUES: dict[str, str] = {  # raw JSON text, so values Python's json would refuse to write are sent too
    "lone surrogate": '"\\ud800x"',
    "2**63": str(2**63),
    "-2**63-1": str(-(2**63) - 1),
    "10**400": "1" + "0" * 400,
    "1e999": "1e999",
    "1 MB string": json.dumps("x" * 1_000_000),
    "nested list": "[" * 5000 + "]" * 5000,
    "300-byte name": json.dumps(LONG_NAME),
    "NUL": '"a\\u0000b"',
}


def _props(op: Any) -> list[str]:
    body = (op.definition.raw.get("requestBody") or {}).get("content", {}).get("application/json", {})
    schema = body.get("schema") or {}
    if "$ref" in schema:
        doc = json.loads((ROOT / "openapi.json").read_text())
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return sorted((schema.get("properties") or {}).keys())


def _url(server: FuzzServer, op: Any, value: str = "shop") -> str:
    path = op.path
    for name in ("ns", "layer", "name", "zone", "test", "run_id", "schedule_id", "trigger_id", "file_id",
                 "filename", "number", "path"):
        path = path.replace("{" + name + "}", {"layer": "bronze", "name": "orders", "zone": "raw"}.get(name, value))
    return server.origin + path


def _hostile(server: FuzzServer, tally: Tally, op: Any) -> None:
    method = op.method.upper()
    url = _url(server, op)
    json_headers = {"Content-Type": "application/json"}
    if method in ("POST", "PUT", "PATCH") and "application/json" in str(op.definition.raw.get("requestBody")):
        for raw in ("[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000, '"\\udfff"', "1e999",
                    "{" + '"k": 1,' * 10 + "}", "\xff\xfe"):
            _send(server, tally, f"{op.label} raw {raw[:12]!r}", method, url, data=raw.encode("utf-8", "surrogatepass"),
                  headers=json_headers)
        for prop in _props(op):
            for what, value in HOSTILE_VALUES.items():
                _send(server, tally, f"{op.label} {prop}={what}", method, url,
                      data=("{" + json.dumps(prop) + ": " + value + "}").encode(), headers=json_headers)
    if "{" in op.path:  # path segments: too long, invalid UTF-8, huge numbers
        for what, segment in (("300-byte", LONG_NAME), ("bad utf-8", "%ED%A0%80"), ("huge", "9" * 40),
                              ("dots", "%2e%2e")):
            _send(server, tally, f"{op.label} path {what}", method, _url(server, op, segment),
                  **({"data": b"{}", "headers": json_headers} if method in ("POST", "PUT", "PATCH") else {}))
    for param in op.definition.raw.get("parameters") or []:
        if param.get("in") == "query":
            for value in ("9" * 40, "-1", "\ud800", LONG_NAME * 10):
                _send(server, tally, f"{op.label} ?{param['name']}={value[:8]!r}", method, url,
                      params={param["name"]: value.encode("utf-8", "surrogatepass")})


def test_no_request_makes_the_server_fail(fuzz_server: FuzzServer, record_property: Any) -> None:
    started = time.monotonic()
    stop_at = started + FUZZ_SECONDS
    tally = Tally()
    ops = _operations()
    assert len(ops) > 50, "the OpenAPI document lists too few operations"
    for op in ops:  # hostile variants first: they are few and fixed
        _hostile(fuzz_server, tally, op)
    hostile = tally.requests
    print(f"fuzz: {hostile} hostile requests in {time.monotonic() - started:.0f} s")
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for op in ops:
            if time.monotonic() > stop_at:
                break
            if _is_stream(op) and mode is GenerationMode.NEGATIVE:
                continue
            _generated(fuzz_server, tally, op, mode, stop_at)
    elapsed = time.monotonic() - started
    fives = sum(n for s, n in tally.statuses.items() if s >= 500)
    summary = (f"fuzz: {tally.requests} requests ({hostile} hostile) over {len(ops)} operations in {elapsed:.0f} s, "
               f"{fives} x 5xx, statuses {dict(sorted(tally.statuses.items()))}")
    print(summary)
    record_property("fuzz_summary", summary)
    assert fuzz_server.api("GET", "health")[0] == 200, "the server stopped answering"
    log = fuzz_server.log()
    tracebacks = [chunk[:1500] for chunk in log.split("Traceback (most recent call last)")[1:]]
    assert not tally.failures, "\n".join([summary, *tally.failures[:40]])
    assert not tracebacks, f"{summary}\nserver log tracebacks ({len(tracebacks)}):\n" + "\n---\n".join(tracebacks[:5])
    assert tally.requests > 1000, summary
