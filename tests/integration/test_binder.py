"""The mybinder.org files install what the demo needs, and the demo they seed runs on the embedded default.

repo2docker builds ``binder/environment.yml``, then runs ``binder/postBuild``; every server start goes through
``binder/start``. Building the image is not possible here (no Docker, no network), so this checks what each
file promises against the project (Python version, extras, the tools the frontend builds call) and runs the
demo seeding exactly as postBuild does, in a fresh home directory.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _postbuild_commands() -> list[str]:
    lines = (BINDER / "postBuild").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def test_environment_has_the_python_and_node_the_build_needs() -> None:
    env = yaml.safe_load((BINDER / "environment.yml").read_text())
    deps = env["dependencies"]
    pins = {d.split("=")[0]: d.split("=", 1)[1] for d in deps if isinstance(d, str) and "=" in d}
    required = _pyproject()["project"]["requires-python"]
    assert required == ">=3.11" and pins["python"] == "3.11"
    assert pins["nodejs"] == "20"  # what the lockfile and the frontends are built and tested with
    assert "pip" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    names = {re.split(r"[<>=\[ ]", p, maxsplit=1)[0] for p in pip}
    # The JupyterLab extension's build calls the jupyter-builder CLI (labextension/scripts/build.mjs).
    assert "jupyter-builder" in (ROOT / "labextension" / "scripts" / "build.mjs").read_text()
    assert {"jupyterlab", "jupyter-builder"} <= names


def test_postbuild_builds_installs_and_seeds_on_the_embedded_default() -> None:
    path = BINDER / "postBuild"
    assert os.access(path, os.X_OK) and os.access(BINDER / "start", os.X_OK)
    for script in (path, BINDER / "start"):
        subprocess.run(["bash", "-n", str(script)], check=True)
    commands = _postbuild_commands()
    assert "set -euo pipefail" in commands
    assert "npm ci --no-audit --no-fund" in commands  # the lockfile, as CI installs it
    scripts = json.loads((ROOT / "package.json").read_text())["scripts"]
    assert "npm run build:prod" in commands and "build:prod" in scripts
    install = next(c for c in commands if "pip install" in c)
    extra = re.search(r'"\.\[(\w+)\]"', install)
    assert extra and extra.group(1) in _pyproject()["project"]["optional-dependencies"]
    assert "jupyterlab" in " ".join(_pyproject()["project"]["optional-dependencies"][extra.group(1)])
    assert "python -m rat_jupyter.kernel install --sys-prefix" in commands
    # The demo is seeded where every server start looks for it; nothing in postBuild configures S3,
    # PostgreSQL or a REST catalog: the embedded default.
    assert 'export RAT_DATA_DIR="${HOME}/.rat"' in commands
    assert (BINDER / "start").read_text().count('export RAT_DATA_DIR="${HOME}/.rat"') == 1
    assert not any(word in " ".join(commands) for word in ("s3://", "postgresql", "catalog_uri", "AWS_"))


def test_the_demo_seeding_of_postbuild_runs_and_the_server_start_finds_it(tmp_path: Path) -> None:
    commands = _postbuild_commands()
    start = commands.index('export RAT_DATA_DIR="${HOME}/.rat"')
    seeding = "\n".join(["set -euo pipefail", *commands[start:]])
    bindir = Path(sys.executable).parent  # `python` of postBuild is this project's interpreter
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAT_")}
    env.update(HOME=str(tmp_path), PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}")
    done = subprocess.run(["bash", "-c", seeding], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "success" in done.stdout
    data = tmp_path / ".rat"
    with sqlite3.connect(data / "state.db") as conn:
        statuses = [row[0] for row in conn.execute("SELECT status FROM runs WHERE namespace = 'demo'")]
    assert statuses and set(statuses) == {"success"}, statuses
    assert (data / "catalog.db").exists() and any((data / "warehouse").rglob("*.parquet"))

    # binder/start hands the server that data directory.
    shown = subprocess.run(["bash", str(BINDER / "start"), "sh", "-c", "echo $RAT_DATA_DIR"], env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert shown == str(data), shlex.quote(shown)
