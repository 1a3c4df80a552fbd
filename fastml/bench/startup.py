"""The "startup" suite: what a user waits for before the first result.

Each repeat runs a fresh interpreter (``sys.executable``) that measures, in order:

* ``import numpy`` and then ``import fastml`` (reported together as
  ``import-fastml``: the time ``import fastml`` costs a fresh process, NumPy
  included; ``import-numpy`` alone is reported for context). The check of this
  item: ``import fastml`` must not import numba (DESIGN.md);
* ``cython-first-call``: the first ``fastml.cdist(..., backend="cython")``
  (loads the compiled extension);
* ``import-numba``;
* ``numba-first-call-cold-cache``: the first ``fastml.cdist(..., backend="numba")``
  with ``NUMBA_CACHE_DIR`` set to a new, empty temporary directory: the JIT
  compile a user pays once per install;
* ``numba-first-call-warm-cache``: the same call in a later process that
  reuses that directory: loading the compiled kernel from the on-disk cache,
  the cost on every later start.

The kernel is ``cdist`` euclidean on a small float64 input.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

__all__ = ["STARTUP_REPEAT", "run_startup"]

#: Default repeats (fresh processes) per size preset; each cold repeat compiles.
STARTUP_REPEAT = {"tiny": 1, "quick": 3, "default": 5, "full": 7}

_SHAPE = (64, 64, 8)

_SCRIPT = r"""
import json, sys, time
c = time.perf_counter
out = {}
t = c(); import numpy as np; out["import-numpy"] = c() - t
t = c(); import fastml; out["import-fastml-only"] = c() - t
out["numba_imported_by_fastml"] = "numba" in sys.modules
mA, mB, n = SHAPE
X = np.random.default_rng(0).standard_normal((mA, n))
backends = fastml.available_backends()
if "cython" in backends:
    t = c(); fastml.cdist(X, X, "euclidean", backend="cython"); out["cython-first-call"] = c() - t
if "numba" in backends:
    t = c(); import numba; out["import-numba"] = c() - t
    t = c(); fastml.cdist(X, X, "euclidean", backend="numba"); out["numba-first-call"] = c() - t
print("FASTML-STARTUP " + json.dumps(out))
""".replace("SHAPE", repr(_SHAPE))


def _run_once(cache_dir, threads):
    env = dict(os.environ)
    env["NUMBA_CACHE_DIR"] = cache_dir
    env["FASTML_NUM_THREADS"] = str(threads)
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),  # not a source tree: time the installed package
        timeout=600,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("FASTML-STARTUP "):
            return json.loads(line[len("FASTML-STARTUP ") :])
    last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    raise RuntimeError(f"startup probe failed (exit {proc.returncode}): {last}")


def _record(op, impl, times, note=None, status="ok", error=None):
    rec = {
        "suite": "startup",
        "op": op,
        "size": "x".join(map(str, _SHAPE)) if "first-call" in op else "-",
        "shape": list(_SHAPE) if "first-call" in op else [],
        "role": "main",
        "dtype": "float64" if "first-call" in op else None,
        "units": 1,
        "unit": "call" if "first-call" in op else "import",
        "impl": impl,
        "kind": "fastml" if impl.startswith("fastml") else "peer",
        "status": status,
        "error": error,
        "first_call_s": None,
        "times_s": list(times),
        "repeats": len(times),
        "median_s": statistics.median(times) if times else None,
        "min_s": min(times) if times else None,
        "max_s": max(times) if times else None,
        "per_unit_s": statistics.median(times) if times else None,
        "note": note,
    }
    return rec


def run_startup(repeat, threads, progress=None, on_record=None):
    """Run the startup suite: ``repeat`` cold and ``repeat`` warm fresh processes.

    Returns
    -------
    list of dict
        Measurement records (suite "startup"), in the same format as the
        timing suites; ``first_call_s`` is None (every item *is* a first call).
    """
    cold, warm = [], []
    dirs = []
    try:
        for i in range(repeat):
            if progress is not None:
                progress.step(f"startup: fresh process {i + 1}/{repeat}, empty numba cache")
            d = tempfile.mkdtemp(prefix="fastml-numba-cache-")
            dirs.append(d)
            cold.append(_run_once(d, threads))
            if progress is not None:
                progress.advance()
                progress.step(f"startup: fresh process {i + 1}/{repeat}, warm numba cache")
            warm.append(_run_once(d, threads))
            if progress is not None:
                progress.advance()
    except KeyboardInterrupt:
        # Keep complete pairs only; the caller handles the interrupt.
        warm = warm[: len(cold)]
        cold = cold[: len(warm)]
        records = _records(cold, warm)
        for rec in records:
            if on_record is not None:
                on_record(rec)
        raise
    finally:
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
    records = _records(cold, warm)
    if on_record is not None:
        for rec in records:
            on_record(rec)
    return records


def _records(cold, warm):
    runs = cold + warm
    if not runs:
        return []
    out = []
    numpy_t = [r["import-numpy"] for r in runs]
    out.append(_record("import-numpy", "numpy", numpy_t, note="fresh process"))
    fastml_t = [r["import-numpy"] + r["import-fastml-only"] for r in runs]
    leaked = any(r["numba_imported_by_fastml"] for r in runs)
    out.append(
        _record(
            "import-fastml",
            "fastml",
            fastml_t,
            note="fresh process, NumPy included",
            status="failed" if leaked else "ok",
            error="import fastml imported numba" if leaked else None,
        )
    )
    if all("cython-first-call" in r for r in runs):
        out.append(
            _record(
                "cython-first-call",
                "fastml-cython",
                [r["cython-first-call"] for r in runs],
                note="loads the compiled extension",
            )
        )
    if all("numba-first-call" in r for r in runs):
        out.append(_record("import-numba", "numba", [r["import-numba"] for r in runs]))
        out.append(
            _record(
                "numba-first-call-cold-cache",
                "fastml-numba",
                [r["numba-first-call"] for r in cold],
                note="empty NUMBA_CACHE_DIR: JIT compile",
            )
        )
        out.append(
            _record(
                "numba-first-call-warm-cache",
                "fastml-numba",
                [r["numba-first-call"] for r in warm],
                note="cache written by the cold run: load",
            )
        )
    return out
