"""``fastml bench --compare OLD.json``: ratios to an earlier run, regressions flagged.

Records are matched on (suite, op, size, dtype, impl). For each pair the ratio
``new median / old median`` is reported (> 1: slower now). The noise allowed
is ``max(threshold, spread of the old run, spread of the new run)``, where a
run's spread is ``(max - min) / median`` of its repeats and ``threshold``
defaults to 10 %. A ratio above ``1 + noise`` is flagged ``REGRESSION``; one
below ``1 / (1 + noise)`` is reported as ``faster``.
"""

from __future__ import annotations

import json

from .report import _md_table, format_seconds, validate

__all__ = ["NOISE", "compare", "format_comparison", "load_results"]

#: Smallest relative change ever called a regression.
NOISE = 0.10


class ResultsFileError(ValueError):
    """A results file that cannot be read or is not a fastml bench result."""


def load_results(path):
    """Read and validate a results JSON file; raise ResultsFileError with a one-line reason."""
    try:
        with open(path) as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise ResultsFileError(f"cannot read {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsFileError(f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ResultsFileError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})"
        ) from None
    try:
        validate(doc)
    except ValueError as exc:
        raise ResultsFileError(f"{path} is not a fastml bench result file: {exc}") from None
    return doc


def _key(rec):
    return (rec["suite"], rec["op"], rec["size"], rec["dtype"], rec["impl"])


def _spread(rec):
    return (rec["max_s"] - rec["min_s"]) / rec["median_s"] if rec["median_s"] else 0.0


def compare(old, new, threshold=NOISE):
    """Pair the records of two result documents.

    Returns
    -------
    dict
        ``rows``: list of dicts (key fields, ``old_s``, ``new_s``, ``ratio``,
        ``noise``, ``verdict`` in {"REGRESSION", "faster", "same"}),
        ``only_old`` / ``only_new``: keys measured in one run only,
        ``regressions``: the number of regressions.
    """
    old_by = {_key(r): r for r in old["results"] if r["status"] == "ok"}
    new_by = {_key(r): r for r in new["results"] if r["status"] == "ok"}
    rows = []
    for key, n in new_by.items():
        o = old_by.get(key)
        if o is None or not o["median_s"]:
            continue
        ratio = n["median_s"] / o["median_s"]
        noise = max(threshold, _spread(o), _spread(n))
        if ratio > 1 + noise:
            verdict = "REGRESSION"
        elif ratio < 1 / (1 + noise):
            verdict = "faster"
        else:
            verdict = "same"
        rows.append(
            dict(
                zip(("suite", "op", "size", "dtype", "impl"), key, strict=True),
                old_s=o["median_s"],
                new_s=n["median_s"],
                ratio=ratio,
                noise=noise,
                verdict=verdict,
            )
        )
    return {
        "rows": rows,
        "only_old": sorted(set(old_by) - set(new_by), key=str),
        "only_new": sorted(set(new_by) - set(old_by), key=str),
        "regressions": sum(r["verdict"] == "REGRESSION" for r in rows),
    }


def format_comparison(result, old_label="old", new_label="new"):
    """Markdown table of :func:`compare`'s result, and a summary line."""
    header = ["case", "impl", old_label, new_label, "new/old", "noise", "verdict"]
    rows = [
        [
            f"{r['op']} {r['size']} {r['dtype'] or ''}".strip(),
            r["impl"],
            format_seconds(r["old_s"]),
            format_seconds(r["new_s"]),
            f"{r['ratio']:.3f}",
            f"+-{r['noise']:.0%}",
            f"**{r['verdict']}**" if r["verdict"] == "REGRESSION" else r["verdict"],
        ]
        for r in result["rows"]
    ]
    text = "### compare\n\n" + (
        _md_table(header, rows) if rows else "(no case measured in both runs)"
    )
    n = result["regressions"]
    summary = (
        f"{n} regression{'s' if n != 1 else ''} beyond noise in {len(rows)} matched measurements"
    )
    extra = []
    if result["only_old"]:
        extra.append(f"{len(result['only_old'])} only in {old_label}")
    if result["only_new"]:
        extra.append(f"{len(result['only_new'])} only in {new_label}")
    if extra:
        summary += " (" + ", ".join(extra) + ")"
    return text + "\n\n" + summary + "\n"
