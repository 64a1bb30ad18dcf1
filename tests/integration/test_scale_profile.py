"""``make up-scale`` / ``make down-scale`` (``scripts/scale.py``): the profile starts, runs submitted from a
notebook-like client execute on the Dask cluster through the JupyterLab it started, committing through
SeaweedFS's Iceberg REST catalog, and ``down`` stops every process it started."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from rat_jupyter.core.settings import S3Options, Settings
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "scale.py"


def _free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_up_scale_runs_a_pipeline_on_dask_and_down_scale_stops_everything(tmp_path: Path) -> None:
    folder = tmp_path / "scale"
    ports = dict(zip(("PG", "S3", "ICEBERG", "DASK", "LAB"), _free_ports(5), strict=True))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAT_", "AWS_", "JUPYTER_"))}
    env.update(SCALE_DIR=str(folder), **{f"RAT_SCALE_{k}_PORT": str(v) for k, v in ports.items()})
    pids: dict[str, int] = {}
    try:
        up = subprocess.run([sys.executable, str(SCRIPT), "up"], env=env, capture_output=True, text=True, timeout=240)
        assert up.returncode == 0, up.stdout + up.stderr
        pids = json.loads((folder / "pids.json").read_text())
        assert set(pids) == {"seaweed", "dask-scheduler", "dask-worker-0", "dask-worker-1", "jupyterlab"}
        assert all(_alive(pid) for pid in pids.values())
        assert oct((folder / "credentials.env").stat().st_mode & 0o777) == "0o600"
        assert oct((folder / "jupyter_server_config.json").stat().st_mode & 0o777) == "0o600"
        # A second up leaves what runs alone.
        again = subprocess.run([sys.executable, str(SCRIPT), "up"], env=env, capture_output=True, text=True,
                               timeout=240)
        assert again.returncode == 0 and again.stdout.count("already running") == 5, again.stdout
        assert json.loads((folder / "pids.json").read_text()) == pids

        config = json.loads((folder / "jupyter_server_config.json").read_text())["RatApp"]
        assert config["executor_class"].endswith(":DaskExecutor")
        assert (config["catalog_type"], config["catalog_uri"]) == ("rest", f"http://127.0.0.1:{ports['ICEBERG']}")
        token = re.search(r"token=([0-9a-f]+)", (folder / "logs" / "jupyterlab.log").read_text())
        assert token, "JupyterLab printed no URL with its token"
        health = urllib.request.Request(f"http://127.0.0.1:{ports['LAB']}/rat/api/v1/health",
                                        headers={"Authorization": f"token {token.group(1)}"})
        assert json.loads(urllib.request.urlopen(health, timeout=10).read())["status"] == "ok"

        creds = dict(line.split("=", 1) for line in (folder / "credentials.env").read_text().split())
        settings = Settings(data_dir=tmp_path / "client", storage_url=config["storage_url"],
                            warehouse=config["warehouse"], catalog_type=config["catalog_type"],
                            catalog_uri=config["catalog_uri"], state_url=config["state_url"],
                            catalog_properties=config.get("catalog_properties", {}),
                            s3=S3Options(endpoint=config["s3_endpoint"], access_key_id=creds["AWS_ACCESS_KEY_ID"],
                                         secret_access_key=creds["AWS_SECRET_ACCESS_KEY"]))
        with Workspace.open(settings, server=False) as client:  # a notebook: submits, never executes
            client.create_namespace("demo")
            make_pipeline(client, "demo", "bronze", "a", "SELECT 1 AS v",
                          tests={"positive": "SELECT * FROM {{ this }} WHERE v < 1"})
            make_pipeline(client, "demo", "silver", "b", "SELECT v + 1 AS w FROM {{ ref('bronze.a') }}")
            runs = client.run_selection("demo.*", wait=True, timeout=180)
            assert [r.status for r in runs] == ["success", "success"], [r.error for r in runs]
            assert {client.get_run(r.id)["server_id"].split(":")[0] for r in runs} == {"scale-lab"}
            assert client.query("SELECT w FROM demo.silver.b")["rows"] == [{"w": 2}]
    finally:
        down = subprocess.run([sys.executable, str(SCRIPT), "down"], env=env, capture_output=True, text=True,
                              timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert json.loads((folder / "pids.json").read_text()) == {}
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids.values()):
        assert time.monotonic() < deadline, "a process of the scale profile outlived down"
        time.sleep(0.1)
    with socket.socket() as sock:  # PostgreSQL stopped too
        assert sock.connect_ex(("127.0.0.1", ports["PG"])) != 0
    pg_data = Path((folder / "postgres-dir").read_text().strip())
    if folder not in pg_data.parents:  # as root, outside a folder the postgres user cannot reach
        shutil.rmtree(pg_data, ignore_errors=True)
