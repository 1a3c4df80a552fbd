"""Text for :func:`fastml.show_config` and the benchmark's machine context."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model():
    """The CPU's model name (Linux /proc/cpuinfo, else platform.processor())."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def config():
    """Return a dict describing fastml's build and runtime configuration."""
    import numpy

    from . import __version__
    from ._config import get_backend, get_num_threads
    from ._registry import _unavailable_reason, available_backends, is_available

    cython = {"available": is_available("cython")}
    if cython["available"]:
        from ._cython import _openmp

        cython.update(_openmp.build_info())
    else:
        cython["reason"] = _unavailable_reason.get("cython", "")
    return {
        "fastml": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "numpy": numpy.__version__,
        "numba": _version("numba"),
        "llvmlite": _version("llvmlite"),
        "Cython (build)": cython.get("cython_version"),
        "cython_backend": cython,
        "backends": available_backends(),
        "backend": get_backend(),
        "threads": get_num_threads(),
    }


def config_lines():
    """Lines of human-readable configuration for :func:`fastml.show_config`."""
    c = config()
    cy = c["cython_backend"]
    if cy["available"]:
        omp = "OpenMP " + ("on" if cy.get("openmp") else "off (serial build)")
        cy_line = f"built, {omp}, variant {cy.get('variant', '?')}"
    else:
        cy_line = f"unavailable: {cy.get('reason', '')}"
    return [
        f"fastml      {c['fastml']}",
        f"python      {c['python']}  ({c['platform']})",
        f"cpu         {c['cpu']}  ({c['cores']} cores)",
        f"numpy       {c['numpy']}",
        f"numba       {c['numba'] or 'not installed'}",
        f"cython      {cy_line}",
        f"backends    {', '.join(c['backends'])}",
        f"backend     {c['backend']}",
        f"threads     {c['threads']}",
    ]
