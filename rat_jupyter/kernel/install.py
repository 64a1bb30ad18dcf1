"""Install the "RAT SQL" kernelspec.

A wheel install ships it under ``share/jupyter/kernels/rat_sql`` already; an editable install does not, so
``python -m rat_jupyter.kernel install [--user|--sys-prefix|--prefix PATH]`` puts it where Jupyter looks.

The kernelspec folder carries the kernel's own icon (``logo-svg.svg``, ``logo-32x32.png``, ``logo-64x64.png``,
which Jupyter serves as the kernelspec's resources): a rat with the word RAT, so the launcher card is never
taken for the R kernel's "R". The PNGs are renderings of the SVG (librsvg), committed so installing needs
no image tool.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

KERNEL_NAME = "rat_sql"
KERNELSPEC_DIR = Path(__file__).resolve().parent / "kernelspec"


def install_kernelspec(*, user: bool = False, prefix: str | None = None, name: str = KERNEL_NAME) -> str:
    """Copy the kernelspec into a Jupyter data directory; returns the folder it was installed to."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KernelSpecManager().install_kernel_spec(str(KERNELSPEC_DIR), kernel_name=name, user=user, prefix=prefix)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rat_jupyter.kernel install",
                                     description="Install the RAT SQL kernelspec.")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="install for the current user")
    where.add_argument("--sys-prefix", action="store_true", help="install into this Python environment (default)")
    where.add_argument("--prefix", help="install under PREFIX/share/jupyter/kernels")
    parser.add_argument("--name", default=KERNEL_NAME, help=f"kernel name (default {KERNEL_NAME})")
    args = parser.parse_args(argv)
    prefix = args.prefix if args.prefix else (None if args.user else sys.prefix)
    path = install_kernelspec(user=args.user, prefix=prefix, name=args.name)
    print(f"Installed the RAT SQL kernelspec in {path}")
    return 0
