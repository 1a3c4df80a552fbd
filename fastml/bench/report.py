"""Results of ``fastml bench``: the JSON document, its validation, and the Markdown table.

The JSON file (``<out>/bench-<YYYYmmdd-HHMMSS>.json``)
-----------------------------------------------------
A single object:

``schema`` : str
    ``"fastml-bench/1"``.
``created`` : str
    ISO 8601 UTC time the run started.
``command`` : list of str
    The command-line arguments.
``complete`` : bool
    False if the run was interrupted (Ctrl-C): ``results`` then holds what
    was measured before the interrupt.
``wall_time_s`` : float
    Duration of the whole run.
``settings`` : object
    ``suites`` (list of str), ``sizes`` (list of presets), ``dtypes``,
    ``backends`` (fastml backends timed, "auto" included), ``peers``
    (peers timed), ``metrics`` (distance labels or null for all),
    ``threads`` (int), ``repeat`` (int or null: preset default),
    ``thread_limits`` (object: what the thread count was applied to).
``skipped`` : list of object
    ``{"what": "suite" | "backend" | "peer", "name": str, "reason": str}``:
    what was asked for (or would be by default) but not run, and why.
``machine`` : object
    :func:`fastml._info.config` (fastml, python, platform, cpu, cores, numpy,
    numba, llvmlite, Cython, backends, threads, ...) plus ``versions`` (scipy,
    scikit-learn, threadpoolctl, matplotlib, Cython; null when not installed)
    and ``blas`` (threadpoolctl's view of the BLAS/OpenMP libraries, or null).
``results`` : list of object
    One *measurement record* per implementation and case:

    ``suite`` (str: "distance", "startup"), ``op`` (str: "cdist-euclidean",
    "import-fastml", ...), ``size`` (str: "4000x4000x64"), ``shape`` (list of
    int), ``role`` ("main", or "python": the small size the pure-Python
    baseline runs at), ``dtype`` (str or null), ``units`` (int: work units,
    pairs for distances), ``unit`` (str: "pair", "call", "import"), ``impl``
    (str: "fastml-numba", "fastml-auto", "fastml-python", "scipy",
    "numpy-matmul", "sklearn", ...), ``kind`` ("fastml", "baseline", "peer"),
    ``status`` ("ok"; "failed": the result check failed, nothing timed;
    "error": the call raised), ``error`` (str or null), ``first_call_s``
    (float or null: first, untimed-for-steady-state call, JIT compile
    included), ``times_s`` (list of float: every timed repeat), ``repeats``
    (int), ``median_s``, ``min_s``, ``max_s`` (float or null), ``per_unit_s``
    (float or null: median / units), ``speedup_vs_python`` (float or null:
    per-unit cost of fastml-python for the same op and dtype divided by this
    record's; ``speedup_vs_python_extrapolated`` (bool) is true when the two
    were measured at different sizes, i.e. the ratio assumes the per-unit
    cost of pure Python does not depend on the size), ``speedup_vs`` (object:
    peer impl -> that peer's median / this median, same case; > 1 means this
    one is faster), and optionally ``note`` (str).

:func:`validate` checks a document against these fields.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import math
import os

__all__ = [
    "SCHEMA",
    "RECORD_FIELDS",
    "TOP_FIELDS",
    "add_speedups",
    "format_seconds",
    "machine_context",
    "markdown_tables",
    "new_document",
    "validate",
    "write_json",
]

SCHEMA = "fastml-bench/1"

_num = (int, float)
_opt_num = (int, float, type(None))
_opt_str = (str, type(None))

#: Top-level fields and their types.
TOP_FIELDS = {
    "schema": str,
    "created": str,
    "command": list,
    "complete": bool,
    "wall_time_s": _num,
    "settings": dict,
    "skipped": list,
    "machine": dict,
    "results": list,
}

#: Fields of a measurement record and their types.
RECORD_FIELDS = {
    "suite": str,
    "op": str,
    "size": str,
    "shape": list,
    "role": str,
    "dtype": _opt_str,
    "units": int,
    "unit": str,
    "impl": str,
    "kind": str,
    "status": str,
    "error": _opt_str,
    "first_call_s": _opt_num,
    "times_s": list,
    "repeats": int,
    "median_s": _opt_num,
    "min_s": _opt_num,
    "max_s": _opt_num,
    "per_unit_s": _opt_num,
    "speedup_vs_python": _opt_num,
    "speedup_vs_python_extrapolated": bool,
    "speedup_vs": dict,
}

_SETTINGS_FIELDS = ("suites", "sizes", "dtypes", "backends", "peers", "threads", "repeat")
_STATUSES = ("ok", "failed", "error")


def validate(doc):
    """Check ``doc`` against the documented fields; raise ValueError naming the first problem."""
    if not isinstance(doc, dict):
        raise ValueError("results must be a JSON object")
    for key, typ in TOP_FIELDS.items():
        if key not in doc:
            raise ValueError(f"results lack the field {key!r}")
        if not isinstance(doc[key], typ) or (typ is not bool and isinstance(doc[key], bool)):
            raise ValueError(f"results field {key!r} has the wrong type")
    if doc["schema"] != SCHEMA:
        raise ValueError(f"unknown results schema {doc['schema']!r} (expected {SCHEMA!r})")
    for key in _SETTINGS_FIELDS:
        if key not in doc["settings"]:
            raise ValueError(f"results settings lack {key!r}")
    for i, rec in enumerate(doc["results"]):
        if not isinstance(rec, dict):
            raise ValueError(f"results[{i}] is not an object")
        for key, typ in RECORD_FIELDS.items():
            if key not in rec:
                raise ValueError(f"results[{i}] lacks the field {key!r}")
            val = rec[key]
            if not isinstance(val, typ) or (typ in (int, _num, _opt_num) and isinstance(val, bool)):
                raise ValueError(f"results[{i}] field {key!r} has the wrong type")
        if rec["status"] not in _STATUSES:
            raise ValueError(f"results[{i}] has an unknown status {rec['status']!r}")
        if rec["status"] == "ok":
            if (
                not rec["times_s"]
                or rec["median_s"] is None
                or rec["repeats"] != len(rec["times_s"])
            ):
                raise ValueError(f"results[{i}] is 'ok' but has no timings")
            if not rec["min_s"] <= rec["median_s"] <= rec["max_s"]:
                raise ValueError(f"results[{i}] has min <= median <= max violated")
        if not all(isinstance(t, _num) and t >= 0 for t in rec["times_s"]):
            raise ValueError(f"results[{i}] has a non-numeric or negative time")
    return doc


def _dist_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_context():
    """fastml's configuration plus peer versions and the BLAS libraries in use."""
    from .._info import config

    ctx = config()
    ctx["versions"] = {
        name: _dist_version(name)
        for name in ("scipy", "scikit-learn", "threadpoolctl", "matplotlib", "Cython")
    }
    try:
        from threadpoolctl import threadpool_info

        ctx["blas"] = [
            {
                k: v
                for k, v in lib.items()
                if k
                in (
                    "user_api",
                    "internal_api",
                    "version",
                    "num_threads",
                    "threading_layer",
                    "architecture",
                )
            }
            for lib in threadpool_info()
        ]
    except ImportError:
        ctx["blas"] = None
    return ctx


def new_document(argv, settings):
    """An empty results document; the runner fills ``results`` and ``skipped``."""
    return {
        "schema": SCHEMA,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": list(argv),
        "complete": False,
        "wall_time_s": 0.0,
        "settings": settings,
        "skipped": [],
        "machine": {},
        "results": [],
    }


def add_speedups(records):
    """Fill ``speedup_vs_python``, ``speedup_vs_python_extrapolated`` and ``speedup_vs``."""
    python = {}
    for rec in records:
        if rec["impl"] == "fastml-python" and rec["status"] == "ok" and rec["per_unit_s"]:
            python.setdefault((rec["suite"], rec["op"], rec["dtype"]), []).append(rec)
    by_case = {}
    for rec in records:
        by_case.setdefault((rec["suite"], rec["op"], rec["size"], rec["dtype"]), []).append(rec)
    for rec in records:
        rec.setdefault("speedup_vs_python", None)
        rec.setdefault("speedup_vs_python_extrapolated", False)
        rec.setdefault("speedup_vs", {})
        if rec["status"] != "ok" or not rec["per_unit_s"]:
            continue
        bases = python.get((rec["suite"], rec["op"], rec["dtype"]), [])
        if bases:
            same = [b for b in bases if b["size"] == rec["size"]]
            # Same size if measured there; else the largest size pure Python ran at.
            base = same[0] if same else max(bases, key=lambda b: b["units"])
            rec["speedup_vs_python"] = base["per_unit_s"] / rec["per_unit_s"]
            rec["speedup_vs_python_extrapolated"] = not same
        for other in by_case[(rec["suite"], rec["op"], rec["size"], rec["dtype"])]:
            if other["kind"] == "peer" and other["status"] == "ok" and other is not rec:
                rec["speedup_vs"][other["impl"]] = other["median_s"] / rec["median_s"]
    return records


def write_json(doc, path):
    """Validate ``doc`` and write it to ``path`` (atomically: temp file + rename)."""
    validate(doc)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(doc, fh, indent=1, default=_json_default)
        fh.write("\n")
    os.replace(tmp, path)
    return path


def _json_default(obj):
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if isinstance(obj, tuple | set):
        return list(obj)
    return str(obj)


# --------------------------------------------------------------------------- table


def format_seconds(t):
    """Seconds in a readable unit: ``'12.3 ms'``."""
    if t is None or (isinstance(t, float) and math.isnan(t)):
        return ""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if t >= scale or unit == "ns":
            v = t / scale
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{t:.3g} s"  # pragma: no cover


def _spread(rec):
    lo, hi = rec["min_s"], rec["max_s"]
    if lo is None:
        return ""
    return f"{format_seconds(lo)} - {format_seconds(hi)}"


def _ratio(x):
    if x is None:
        return ""
    return f"{x:.3g}x" if x < 1000 else f"{x:,.0f}x"


def _md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_tables(doc):
    """The run's results as Markdown: one table per suite, then footnotes.

    Returns
    -------
    str
    """
    records = doc["results"]
    parts = []
    for suite in dict.fromkeys(r["suite"] for r in records):
        recs = [r for r in records if r["suite"] == suite]
        if suite == "startup":
            parts.append(f"### {suite}\n\n" + _startup_table(recs))
        else:
            parts.append(f"### {suite}\n\n" + _timing_table(recs))
    notes = []
    if any(r.get("speedup_vs_python_extrapolated") for r in records):
        pys = {r["size"] for r in records if r["impl"] == "fastml-python"}
        notes.append(
            "`x python` is per pair: pure Python's cost per pair (measured at "
            f"{', '.join(sorted(pys))}) over this row's; `*` marks ratios extrapolated "
            "from that smaller size."
        )
    if any(r["status"] != "ok" for r in records):
        notes.append("FAILED: the result check failed (not timed); ERROR: the call raised.")
    if not doc.get("complete", True):
        notes.append("Interrupted: partial results.")
    if notes:
        parts.append("\n".join(f"- {n}" for n in notes))
    return "\n\n".join(parts) + "\n"


def _timing_table(recs):
    peers = list(dict.fromkeys(r["impl"] for r in recs if r["kind"] == "peer"))
    header = [
        "case",
        "impl",
        "median",
        "min - max",
        "first call",
        "per pair",
        "x python (per pair)",
    ]
    header += [f"x {p}" for p in peers]
    rows = []
    last = None
    for r in recs:
        case = f"{r['op']} {r['size']} {r['dtype']}"
        label = case if case != last else ""
        last = case
        if r["status"] != "ok":
            status = "FAILED" if r["status"] == "failed" else "ERROR"
            err = (r["error"] or "").replace("|", "/")[:80]
            rows.append([label, r["impl"], f"**{status}**", err, "", "", ""] + [""] * len(peers))
            continue
        xpy = _ratio(r["speedup_vs_python"])
        if xpy and r["speedup_vs_python_extrapolated"]:
            xpy += "*"
        if r["impl"] == "fastml-python":
            xpy = "1x (baseline)"
        row = [
            label,
            r["impl"],
            format_seconds(r["median_s"]),
            _spread(r),
            format_seconds(r["first_call_s"]),
            format_seconds(r["per_unit_s"]),
            xpy,
        ]
        row += ["-" if p == r["impl"] else _ratio(r["speedup_vs"].get(p)) for p in peers]
        rows.append(row)
    return _md_table(header, rows)


def _startup_table(recs):
    header = ["item", "impl", "median", "min - max", "repeats", "note"]
    rows = []
    for r in recs:
        if r["status"] != "ok":
            rows.append([r["op"], r["impl"], "**FAILED**", r["error"] or "", r["repeats"], ""])
            continue
        rows.append(
            [
                r["op"],
                r["impl"],
                format_seconds(r["median_s"]),
                _spread(r),
                r["repeats"],
                r.get("note") or "",
            ]
        )
    return _md_table(header, rows)
