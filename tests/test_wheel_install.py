"""The wheel carries the prebuilt JupyterLab extension: installed into a fresh virtual environment with no Node on
PATH, ``jupyter labextension list`` shows ``rat-jupyter`` enabled and OK.

The wheel is built once (``pip wheel``; the build hook reuses the portal and extension builds when present, as
``make setup`` leaves them). The fresh environment gets the wheel itself (``--no-deps``) and borrows the
already-installed dependencies of the project's environment through a path entry, which keeps the test at
seconds instead of re-downloading DuckDB, pyarrow and JupyterLab; the package under test, its data files and
the Jupyter data path (``sys.prefix``) all come from the new environment alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAB_BUILD = ROOT / "rat_jupyter" / "labextension" / "package.json"
PORTAL_BUILD = ROOT / "rat_jupyter" / "portal_static" / "index.html"
SHARE = "rat_jupyter-0.1.0.data/data/share/jupyter/labextensions/rat-jupyter/"


def _need_builds() -> None:
    if LAB_BUILD.is_file() and PORTAL_BUILD.is_file():
        return
    reason = "the portal / JupyterLab extension is not built (make setup, or npm ci && npm run build:prod)"
    if os.environ.get("RAT_BROWSER_TESTS") == "required":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    _need_builds()
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True, timeout=300, cwd=str(out))
    [built] = list(out.glob("rat_jupyter-*.whl"))
    yield built


def test_wheel_ships_the_extension_once(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert SHARE + "package.json" in names
    assert SHARE + "install.json" in names
    assert any(n.startswith(SHARE + "static/remoteEntry.") for n in names)
    # shipped as shared-data only, not a second time inside the Python package
    assert not [n for n in names if n.startswith("rat_jupyter/labextension/")]
    assert "rat_jupyter/portal_static/index.html" in names


def test_clean_venv_without_node_lists_the_extension_enabled_and_ok(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, timeout=300)
    purelib = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    # dependencies borrowed from this environment (appended after the new environment's own site-packages)
    (purelib / "_borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": str(venv / "bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    assert shutil.which("node", path=env["PATH"]) is None
    where = subprocess.run([str(py), "-c", "import rat_jupyter, sys; print(rat_jupyter.__file__); print(sys.prefix)"],
                           check=True, capture_output=True, text=True, env=env, cwd=str(home)).stdout.split()
    assert where[0].startswith(str(venv)), "rat_jupyter must come from the installed wheel"
    listing = subprocess.run([str(py), "-m", "jupyterlab.labextensions", "list"], capture_output=True, text=True,
                             env=env, cwd=str(home), timeout=120)
    text = listing.stdout + listing.stderr
    line = next((ln for ln in text.splitlines() if "rat-jupyter v" in ln), "")
    assert str(venv / "share" / "jupyter" / "labextensions") in text, text[-2000:]
    assert "enabled" in line and "OK" in line, text[-2000:]
    assert (venv / "share" / "jupyter" / "labextensions" / "rat-jupyter" / "install.json").is_file()
