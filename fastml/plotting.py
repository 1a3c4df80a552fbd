"""Plots for benchmark results and training histories (needs matplotlib).

* :func:`plot_benchmark` draws a ``fastml bench`` results file (or dict):
  speed-up bars per kernel and implementation (log scale), or time-vs-size
  scaling curves (log-log).
* :func:`write_benchmark_plots` writes every such plot of a run as PNG files
  (what ``fastml bench`` does).
* :func:`plot_history` draws an estimator's ``history_`` (loss per epoch, and
  validation loss where recorded).

The functions return :class:`matplotlib.figure.Figure` objects built without
``pyplot`` (no GUI backend, nothing global); Jupyter displays them inline.
matplotlib is imported when a function is called, not with this module.
"""

from __future__ import annotations

import json
import math
import os

__all__ = ["plot_benchmark", "plot_history", "write_benchmark_plots"]


def _figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "fastml.plotting needs matplotlib: `pip install matplotlib` (or fastml[plot])"
        ) from None
    return Figure(**kwargs)


def _load(results):
    if isinstance(results, dict):
        return results
    if isinstance(results, str | os.PathLike):
        with open(results) as fh:
            return json.load(fh)
    raise TypeError(
        f"results must be a results dict or the path of a results JSON file; got {type(results).__name__}"
    )


def _timed(doc, suite):
    return [
        r
        for r in doc["results"]
        if r["suite"] == suite
        and r["status"] == "ok"
        and r.get("median_s")
        and r["suite"] != "startup"
    ]


def _suites(doc):
    return [s for s in dict.fromkeys(r["suite"] for r in doc["results"]) if s != "startup"]


def _impl_order(recs):
    order = {"fastml-auto": 0, "fastml-numba": 1, "fastml-cython": 2, "fastml-numpy": 3}
    impls = dict.fromkeys(r["impl"] for r in recs)
    return sorted(impls, key=lambda i: (order.get(i, 5 if i == "fastml-python" else 4), i))


def plot_benchmark(results, kind="speedup", suite=None, dtype=None, size=None):
    """Plot ``fastml bench`` results.

    Parameters
    ----------
    results : dict or path-like
        A results document (as written by ``fastml bench``) or its file.
    kind : {"speedup", "scaling"}
        ``"speedup"``: bars of the speed-up over pure Python, per pair, for
        every kernel (x axis) and implementation (bars), log scale; ratios
        measured at a larger size than pure Python ran at are extrapolated
        from its per-pair cost, and the title says so.
        ``"scaling"``: median time against the number of pairs, log-log, one
        panel per kernel, one line per implementation; pure Python's
        extrapolation is drawn dashed.
    suite : str, optional
        The suite to plot (default: the first timed suite in ``results``).
    dtype : str, optional
        Restrict to one dtype (default: one row of panels per dtype for
        "speedup", the first dtype for "scaling").
    size : str, optional
        For "speedup": the size label to plot (default: the largest measured).

    Returns
    -------
    matplotlib.figure.Figure
    """
    doc = _load(results)
    suites = _suites(doc)
    if suite is None:
        if not suites:
            raise ValueError("results hold no timed suite to plot")
        suite = suites[0]
    recs = _timed(doc, suite)
    if not recs:
        raise ValueError(f"results hold no successful measurement of suite {suite!r}")
    dtypes = list(dict.fromkeys(r["dtype"] for r in recs))
    if dtype is not None:
        if dtype not in dtypes:
            raise ValueError(f"no {dtype} results in suite {suite!r}; have {', '.join(dtypes)}")
        dtypes = [dtype]
    if kind == "speedup":
        return _speedup_figure(recs, suite, dtypes, size)
    if kind == "scaling":
        return _scaling_figure(recs, suite, dtypes[0])
    raise ValueError(f"kind must be 'speedup' or 'scaling'; got {kind!r}")


def _speedup_figure(recs, suite, dtypes, size):
    ops = list(dict.fromkeys(r["op"] for r in recs))
    fig = _figure(figsize=(max(7.0, 0.9 * len(ops) + 3), 3.6 * len(dtypes)), layout="constrained")
    axes = fig.subplots(len(dtypes), 1, squeeze=False)[:, 0]
    for ax, dt in zip(axes, dtypes, strict=True):
        sel = [r for r in recs if r["dtype"] == dt and r.get("speedup_vs_python")]
        if size is None:
            chosen = max(sel, key=lambda r: r["units"])["size"] if sel else None
        else:
            chosen = size
        sel = [r for r in sel if r["size"] == chosen and r["impl"] != "fastml-python"]
        impls = _impl_order(sel)
        width = 0.8 / max(len(impls), 1)
        cmap = _colors()
        for k, impl in enumerate(impls):
            xs, ys = [], []
            for i, op in enumerate(ops):
                for r in sel:
                    if r["op"] == op and r["impl"] == impl:
                        xs.append(i - 0.4 + (k + 0.5) * width)
                        ys.append(r["speedup_vs_python"])
            ax.bar(xs, ys, width, label=impl, color=cmap(impl))
        ax.set_yscale("log")
        ax.set_xticks(range(len(ops)))
        ax.set_xticklabels([op.split("-", 1)[-1] for op in ops], rotation=30, ha="right")
        ax.axhline(1.0, color="black", lw=0.8)
        ax.grid(axis="y", which="major", alpha=0.3)
        extrap = any(r["speedup_vs_python_extrapolated"] for r in sel)
        what = "extrapolated per pair" if extrap else "per pair"
        ax.set_ylabel(f"speed-up vs pure Python\n({what}, log)")
        kernel = ops[0].split("-", 1)[0] if ops else suite
        ax.set_title(f"{kernel} {chosen} {dt}: speed-up over pure Python ({what})", fontsize=10)
        if impls:
            ax.legend(fontsize=7, ncol=min(4, len(impls)), loc="upper left")
    return fig


def _colors():
    fixed = {
        "fastml-auto": "#1b5e20",
        "fastml-numba": "#43a047",
        "fastml-cython": "#1e88e5",
        "fastml-numpy": "#8e24aa",
        "fastml-python": "#616161",
        "scipy": "#e53935",
        "numpy-matmul": "#fb8c00",
        "sklearn": "#fdd835",
    }
    spare = iter(["#00897b", "#6d4c41", "#d81b60", "#3949ab", "#7cb342"] * 10)
    extra = {}

    def color(impl):
        if impl in fixed:
            return fixed[impl]
        if impl not in extra:
            extra[impl] = next(spare)
        return extra[impl]

    return color


def _scaling_figure(recs, suite, dt):
    from matplotlib.ticker import NullFormatter

    recs = [r for r in recs if r["dtype"] == dt]
    ops = list(dict.fromkeys(r["op"] for r in recs))
    ncols = min(4, len(ops))
    nrows = math.ceil(len(ops) / ncols)
    fig = _figure(figsize=(3.3 * ncols, 2.8 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    cmap = _colors()
    handles = {}
    all_units = sorted({r["units"] for r in recs})
    for ax, op in zip(axes, ops, strict=False):
        sel = [r for r in recs if r["op"] == op]
        for impl in _impl_order(sel):
            pts = sorted((r["units"], r["median_s"]) for r in sel if r["impl"] == impl)
            (line,) = ax.plot(
                *zip(*pts, strict=True), marker="o", ms=3, color=cmap(impl), label=impl
            )
            handles.setdefault(impl, line)
            if impl == "fastml-python":
                per_unit = pts[-1][1] / pts[-1][0]
                far = [u for u in all_units if u > pts[-1][0]]
                if far:
                    xs = [pts[-1][0], far[-1]]
                    (ext,) = ax.plot(
                        xs,
                        [per_unit * x for x in xs],
                        ls="--",
                        color=cmap(impl),
                        lw=1,
                        label="fastml-python (extrapolated per pair)",
                    )
                    handles.setdefault("fastml-python (extrapolated per pair)", ext)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title(op, fontsize=9)
        ax.grid(which="major", alpha=0.3)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("pairs", fontsize=8)
        ax.set_ylabel("median time (s)", fontsize=8)
    for ax in axes[len(ops) :]:
        ax.set_visible(False)
    fig.suptitle(f"{suite}: time vs size, {dt} (log-log)", fontsize=10)
    fig.legend(
        list(handles.values()), list(handles), loc="outside lower center", ncol=4, fontsize=7
    )
    return fig


def write_benchmark_plots(results, out_dir, prefix="bench"):
    """Write every plot of a run as PNG files; return their paths.

    For each timed suite and dtype: ``<prefix>-speedup-<suite>-<dtype>.png``
    and, when more than one size was measured,
    ``<prefix>-scaling-<suite>-<dtype>.png``.
    """
    doc = _load(results)
    paths = []
    for suite in _suites(doc):
        recs = _timed(doc, suite)
        for dt in dict.fromkeys(r["dtype"] for r in recs):
            sub = [r for r in recs if r["dtype"] == dt]
            if any(r.get("speedup_vs_python") for r in sub):
                fig = _speedup_figure(recs, suite, [dt], None)
                paths.append(_save(fig, out_dir, f"{prefix}-speedup-{suite}-{dt}.png"))
            if len({r["size"] for r in sub}) > 1:
                fig = _scaling_figure(recs, suite, dt)
                paths.append(_save(fig, out_dir, f"{prefix}-scaling-{suite}-{dt}.png"))
    return paths


def _save(fig, out_dir, name):
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=110)
    return path


def plot_history(estimator, ax=None):
    """Draw a training loss curve from ``estimator.history_``.

    Parameters
    ----------
    estimator : object with ``history_``, or a dict
        ``history_["loss"]`` is the per-epoch training loss;
        ``history_["val_loss"]``, if present, the validation loss.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure
    """
    history = estimator if isinstance(estimator, dict) else getattr(estimator, "history_", None)
    if history is None:
        raise ValueError(
            f"{type(estimator).__name__} has no history_: fit a gradient-descent estimator first"
        )
    if isinstance(history, list):
        raise ValueError(
            "history_ is a list, one per target (LinearRegression fitted on a 2-D y): "
            "pass one of them, e.g. plot_history(model.history_[0])"
        )
    if "loss" not in history or len(history["loss"]) == 0:
        raise ValueError("history_ has no 'loss' values to plot")
    if ax is None:
        fig = _figure(figsize=(5.5, 3.5), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    loss = list(history["loss"])
    epochs = range(1, len(loss) + 1)
    ax.plot(epochs, loss, marker="o", ms=3, label="loss")
    val = history.get("val_loss")
    if val is not None and len(val):
        ax.plot(range(1, len(val) + 1), list(val), marker="s", ms=3, label="val_loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if all(v > 0 for v in loss):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(
        type(estimator).__name__ if not isinstance(estimator, dict) else "training history"
    )
    return fig
