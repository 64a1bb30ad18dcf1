"""``python -m rat_jupyter.kernel``: start the RAT SQL kernel, or ``install`` its kernelspec."""

from __future__ import annotations

import sys


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "install":
        from .install import main as install

        sys.exit(install(sys.argv[2:]))
    from ipykernel.kernelapp import IPKernelApp

    from .kernel import RatKernel

    IPKernelApp.launch_instance(kernel_class=RatKernel)


if __name__ == "__main__":
    main()
