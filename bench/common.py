"""What the benchmarks that drive a real RAT server share: a resident ``jupyter server`` (or ``jupyter lab``)
with the extension, a keep-alive client of its REST API, and the memory of a process tree (now and its peak).

Imported as ``common`` by the scripts run from ``bench/`` (``python bench/<script>.py`` puts this folder first
on ``sys.path``).
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
API = "rat/api/v1"
PAGE = 200  # the largest page GET /runs serves
ENDED = ("success", "failed", "cancelled", "skipped")


class BenchError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[Any], timeout: float = 30) -> None:
    """SIGTERM, SIGKILL after ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --------------------------------------------------------------------------------------------------
# Memory of a process tree
# --------------------------------------------------------------------------------------------------


def tree(pid: int) -> list[Any]:
    """The process and all its descendants (psutil processes); empty once it is gone."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _size(p: Any, kind: str) -> int:
    """One process's RSS, USS or PSS in bytes. PSS: each page shared by n processes counts 1/n in each, so a
    tree's sum is what it holds (summed RSS counts a shared library's pages once per process that maps them,
    which overstates several processes against one doing the same work); read from ``smaps_rollup``."""
    if kind == "rss":
        return p.memory_info().rss
    if kind == "uss":
        return p.memory_full_info().uss
    with open(f"/proc/{p.pid}/smaps_rollup") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Pss:")) * 1024


def _sizes_of(procs: list[Any], kind: str) -> dict[int, int]:
    """``kind`` (rss, uss or pss) of each of ``procs`` that is still there, by pid."""
    import psutil

    sizes = {}
    for p in procs:
        try:
            sizes[p.pid] = _size(p, kind)
        except (psutil.NoSuchProcess, OSError, StopIteration):
            pass
    return sizes


def _sizes(pid: int, kind: str = "rss") -> list[int]:
    return list(_sizes_of(tree(pid), kind).values())


def tree_pss(pid: int) -> int:
    """Summed PSS of ``pid``'s tree (see :func:`_size`)."""
    return sum(_sizes(pid, "pss"))


def cpu_seconds(pid: int) -> dict[int, float]:
    """User + system CPU seconds of each process of ``pid``'s tree, by pid."""
    import psutil

    out = {}
    for p in tree(pid):
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        out[p.pid] = t.user + t.system
    return out


def tree_rss(pid: int) -> int:
    """Summed RSS (resident pages; shared libraries counted once per process)."""
    return sum(_sizes(pid))


def tree_uss(pid: int) -> int:
    """Summed USS (pages only that process holds: what would be freed if it exited)."""
    return sum(_sizes(pid, "uss"))


class Peak:
    """Samples a process tree's RSS every 50 ms in a thread while in the ``with`` block: ``tree`` is the largest
    sum seen, ``one`` the largest single process (a child if there is one: the worker that ran the work),
    ``pss`` the largest summed PSS (see :func:`tree_pss`)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.one = 0
        self.tree = 0
        self.pss = 0
        self.each: dict[int, int] = {}  # pid -> largest RSS seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> None:
        procs = tree(self.pid)  # one walk for both measures
        each = _sizes_of(procs, "rss")
        for pid, rss in each.items():
            self.each[pid] = max(self.each.get(pid, 0), rss)
        sizes = list(each.values())
        if sizes:
            self.one = max(self.one, max(sizes[1:] or sizes))
            self.tree = max(self.tree, sum(sizes))
        self.pss = max(self.pss, sum(_sizes_of(procs, "pss").values()))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.05)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def run_sampled(cmd: list[str], log: Path, env: Mapping[str, str] | None = None, *, cwd: Path,
                timeout: float) -> tuple[float, int]:
    """Run ``cmd`` to completion: wall seconds and the peak RSS of its process tree; raise with the log's end
    if it fails."""
    wall, peak = run_peaks(cmd, log, env, cwd=cwd, timeout=timeout)
    return wall, peak.tree


def run_peaks(cmd: list[str], log: Path, env: Mapping[str, str] | None = None, *, cwd: Path,
              timeout: float) -> tuple[float, Peak]:
    """:func:`run_sampled` with every peak the sampler saw (summed RSS, summed PSS, largest process)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as fh:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=None if env is None else dict(env),
                                cwd=cwd)
        with Peak(proc.pid) as peak:
            code = proc.wait(timeout=timeout)
        wall = time.perf_counter() - t0
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise BenchError(f"command failed (exit {code}): {' '.join(cmd)}\n--- {log} ---\n{tail}")
    return wall, peak


# --------------------------------------------------------------------------------------------------
# The server and its API
# --------------------------------------------------------------------------------------------------


class Rest:
    """A keep-alive HTTP/1.1 client of the RAT API under ``base_url`` (JSON, and one multipart upload)."""

    def __init__(self, port: int, token: str, base_url: str = "/") -> None:
        self.port = port
        self.token = token
        self.prefix = f"{base_url}{API}/"
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
             content_type: str = "application/json") -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is None and method in ("POST", "PUT"):
            data = b"{}"
        headers = {"Authorization": f"token {self.token}", "Content-Type": content_type}
        for attempt in (1, 2):
            try:
                self.conn.request(method, self.prefix + path.lstrip("/"), body=data, headers=headers)
                resp = self.conn.getresponse()
                out = resp.read()
                return resp.status, json.loads(out) if out else None
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, out = self.call(method, path, body, **kw)
        if status not in (200, 201, 202, 204):
            raise BenchError(f"{method} {path} -> {status}: {out}")
        return out

    def upload(self, path: str, filename: str, content: bytes, fields: dict[str, str] | None = None) -> Any:
        boundary = uuid.uuid4().hex
        body = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
                        for k, v in (fields or {}).items())
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n").encode()
        body += content + f"\r\n--{boundary}--\r\n".encode()
        return self.ok("POST", path, raw=body, content_type=f"multipart/form-data; boundary={boundary}")

    def all_runs(self, query: str) -> list[dict[str, Any]]:
        """Every run matching ``query``, page by page: the API answers at most ``PAGE`` runs per request."""
        runs: list[dict[str, Any]] = []
        while True:
            page = self.ok("GET", f"/runs?{query}&limit={PAGE}&offset={len(runs)}")
            runs += page["runs"]
            if not page["runs"] or len(runs) >= page["total"]:
                return runs

    def wait_run(self, run_id: str, poll: float, timeout: float = 3600) -> dict[str, Any]:
        """Poll ``GET /runs/{id}`` every ``poll`` seconds until the run ends; fails unless it succeeded."""
        deadline = time.monotonic() + timeout
        while (run := self.ok("GET", f"/runs/{run_id}"))["status"] not in ENDED:
            if time.monotonic() > deadline:
                raise BenchError(f"run {run_id} did not end within {timeout:.0f}s")
            time.sleep(poll)
        if run["status"] != "success":
            raise BenchError(f"run {run_id} of {run.get('name')}: {run['status']}: {run.get('error')}")
        return dict(run)


def data_dir_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This environment pointed at ``data_dir`` (kernels find their workspace through ``RAT_DATA_DIR``), with
    its own Jupyter runtime folder and without an inherited ``RAT_SETTINGS``."""
    env = {**os.environ, "RAT_DATA_DIR": str(data_dir), "JUPYTER_RUNTIME_DIR": str(data_dir / "runtime"), **extra}
    env.pop("RAT_SETTINGS", None)
    return env


class RatServer:
    """One resident ``jupyter <app>`` with the RAT extension on ``data_dir``, started and ready (its API says
    ``/health/ready``); stdout and stderr go to ``log``."""

    def __init__(self, data_dir: Path, *args: str, cwd: Path, log: Path, app: str = "server", base_url: str = "/",
                 env: Mapping[str, str] | None = None, python: str = sys.executable, timeout: float = 180) -> None:
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.root = f"http://127.0.0.1:{self.port}{base_url}"
        self.log_path = log
        cmd = [python, "-m", "jupyter", app, "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", f"--ServerApp.base_url={base_url}",
               f"--IdentityProvider.token={self.token}", "--ServerApp.jpserver_extensions=rat_jupyter=True",
               f"--RatApp.data_dir={data_dir}", *args]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self._log = log.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd,
                                     env=None if env is None else dict(env))
        self.rest = Rest(self.port, self.token, base_url)
        self._deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self._log.close()
                raise BenchError(f"jupyter {app} exited with {self.proc.returncode}; see {log}")
            try:
                if self.rest.call("GET", "/health/ready")[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > self._deadline:
                self.close()
                raise BenchError(f"jupyter {app} did not become ready; see {log}")
            time.sleep(0.2)

    def settle(self, concurrency: int) -> None:
        """Until the server is idle: its ``concurrency`` workers are up and done warming up (imports, catalog,
        DuckDB extensions), which is when resident memory stops growing."""
        while time.monotonic() < self._deadline:
            _, info = self.rest.call("GET", "/health")
            workers = max((info or {}).get("executor", {}).get("workers", 0), len(tree(self.proc.pid)) - 1)
            if workers >= concurrency:
                break
            time.sleep(0.2)
        last = -1
        while time.monotonic() < self._deadline:
            time.sleep(1.0)
            now = tree_rss(self.proc.pid)
            if abs(now - last) < 2 * MiB:
                break
            last = now

    def close(self) -> None:
        stop_process(self.proc)
        self._log.close()
