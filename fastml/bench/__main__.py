"""``fastml bench`` / ``python -m fastml.bench``: run benchmark suites, print and save results.

Examples
--------
::

    fastml bench                                   # quick sizes, every suite (< 3 min on 2 cores)
    fastml bench --suite distance --sizes default  # the 4000 x 4000 x 64 table of issue 2
    fastml bench --suite distance --metrics euclidean,cosine --dtype float32 --threads 1
    fastml bench --compare bench-results/bench-OLD.json       # run, then compare with OLD
    fastml bench --compare OLD.json NEW.json                  # compare two files, no run

Exit status: 0 on success; 1 if a result check failed or an implementation
raised (or, with ``--fail-on-regression``, if a regression was flagged);
2 for bad command-line input; 130 if interrupted (Ctrl-C; what was measured
is still printed and saved).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import tempfile
import time

from .cases import DISTANCE_METRICS, PEERS, SIZES, distance_cases, peer_available
from .runner import PRESETS, Progress, run_cases, thread_limits

__all__ = ["main"]

#: Every suite, in the order "all" runs them: suite -> "module:builder", the
#: function that builds the suite's cases (see :func:`fastml.bench.cases.distance_cases`
#: for its signature). The module also defines ``SUITE_PEERS``, the peers the
#: suite compares with. A suite whose module is missing is skipped.
SUITES = {
    "distance": "fastml.bench.cases:distance_cases",
    "neighbors": "fastml.bench.cases_neighbors:neighbors_cases",
    "kmeans": "fastml.bench.cases_kmeans:kmeans_cases",
    "linear": "fastml.bench.cases_linear:linear_cases",
    "dask": "fastml.bench.cases_dask:dask_cases",
    "startup": None,  # import and compile times: fastml.bench.startup
}


def _suite_module(suite):
    """The cases module of ``suite``, or None if it does not exist (yet)."""
    target = SUITES[suite]
    if target is None:
        return None
    module = target.split(":")[0]
    if importlib.util.find_spec(module) is None:
        return None
    return importlib.import_module(module)


def _suite_builder(suite):
    if suite == "distance":
        return distance_cases  # looked up here so tests can monkeypatch it
    module, name = SUITES[suite].split(":")
    return getattr(importlib.import_module(module), name)


def _suite_peers(suite):
    mod = _suite_module(suite)
    return tuple(getattr(mod, "SUITE_PEERS", ())) if mod is not None else ()


PUBLIC_SIZES = ("quick", "default", "full")


class UsageError(Exception):
    """Bad command-line input: reported as one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _parser(prog):
    p = _Parser(
        prog=prog,
        description=(
            "Benchmark fastml's backends against pure Python and the libraries people use "
            "(SciPy, NumPy, scikit-learn). Prints a Markdown table; writes JSON and PNG plots."
        ),
        epilog="Exit status: 0 ok; 1 a result check failed; 2 bad input; 130 interrupted.",
    )
    p.add_argument(
        "--suite",
        default="all",
        help=f"comma-separated: {', '.join(SUITES)} or all (default: all)",
    )
    p.add_argument(
        "--backends",
        default=None,
        help="fastml backends to time, comma-separated: python, numpy, numba, cython, auto "
        "(default: every available one, and auto)",
    )
    p.add_argument(
        "--dtype", default="float64,float32", help="float64, float32 or both (default: both)"
    )
    p.add_argument(
        "--sizes",
        default="quick",
        help="size preset(s), comma-separated: quick (default; < 3 min in all), default "
        "(4000x4000x64), full (10000x10000x64)",
    )
    p.add_argument("--metrics", default=None, help="distance suite: metrics to time (default: all)")
    p.add_argument(
        "--threads",
        type=_positive_int("--threads"),
        default=None,
        help="threads for fastml and, via threadpoolctl, for the peers' BLAS "
        "(default: fastml.get_num_threads())",
    )
    p.add_argument(
        "--repeat",
        type=_positive_int("--repeat"),
        default=None,
        help="timed repeats per implementation (default: per preset, fewer for very slow "
        "implementations, at least 3)",
    )
    p.add_argument(
        "--peers",
        default=None,
        help=f"peers to compare with, comma-separated: {', '.join(PEERS)} "
        "(default: every installed one; missing ones are skipped)",
    )
    p.add_argument("--out", default="bench-results", help="directory for JSON and PNGs")
    p.add_argument(
        "--compare",
        nargs="+",
        metavar="JSON",
        default=None,
        help="OLD.json: run, then compare with it; OLD.json NEW.json: compare two files, no run",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=0.10,
        help="--compare: smallest slow-down flagged (default 0.10; the runs' spread if larger)",
    )
    p.add_argument(
        "--fail-on-regression", action="store_true", help="--compare: exit 1 on a regression"
    )
    p.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def _positive_int(name):
    def conv(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a positive integer; got {text!r}"
            ) from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer; got {text!r}")
        return value

    return conv


def _split(text):
    return [t.strip().lower() for t in text.split(",") if t.strip()]


def _choose(text, known, what, allow_all=False, shown=None):
    items = _split(text)
    if not items:
        raise UsageError(f"{what}: empty list")
    if allow_all and "all" in items:
        return list(known)
    bad = [i for i in items if i not in known]
    if bad:
        raise UsageError(f"unknown {what} {bad[0]!r}; expected {', '.join(shown or known)}")
    return list(dict.fromkeys(items))


def _check_out(out):
    try:
        os.makedirs(out, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"cannot write to --out {out!r}: {reason}") from None


class _Options:
    """Validated settings of a run."""

    def __init__(self, args, skipped):
        import fastml
        from fastml._config import BACKENDS

        self.suites = _choose(args.suite, list(SUITES), "suite", allow_all=True)
        self.sizes = _choose(args.sizes, list(SIZES), "size preset", shown=PUBLIC_SIZES)
        dtypes = args.dtype.replace("both", "float64,float32")
        self.dtypes = _choose(dtypes, ["float64", "float32"], "dtype")
        available = fastml.available_backends()
        if args.backends is None:
            self.backends = list(available) + ["auto"]
        else:
            asked = _choose(args.backends, list(BACKENDS) + ["auto"], "backend")
            self.backends = []
            for b in asked:
                if b == "auto" or b in available:
                    self.backends.append(b)
                else:
                    from fastml._registry import _unavailable_reason

                    skipped.append(
                        {
                            "what": "backend",
                            "name": b,
                            "reason": _unavailable_reason.get(b) or "unavailable",
                        }
                    )
        # Peers: checked here, resolved against the suites by resolve_peers().
        self.asked_peers = None if args.peers is None else _choose(args.peers, list(PEERS), "peer")
        self.peers = []
        self.metrics = None
        if args.metrics is not None:
            labels = [lab for lab, _, _ in DISTANCE_METRICS]
            names = {metric: lab for lab, metric, _ in DISTANCE_METRICS}
            chosen = []
            for m in _split(args.metrics):
                if m in labels:
                    chosen.append(m)
                elif m in names:
                    chosen.append(names[m])
                else:
                    raise UsageError(f"unknown metric {m!r}; expected {', '.join(labels)}")
            self.metrics = list(dict.fromkeys(chosen))
        self.threads = args.threads if args.threads is not None else fastml.get_num_threads()
        self.repeat = args.repeat

    def settings(self, thread_info=None):
        return {
            "suites": self.suites,
            "sizes": self.sizes,
            "dtypes": self.dtypes,
            "backends": self.backends,
            "peers": self.peers,
            "metrics": self.metrics,
            "threads": self.threads,
            "repeat": self.repeat,
            "thread_limits": thread_info or {},
        }


def _note(msg):
    print(f"fastml bench: {msg}", file=sys.stderr)


def _build(suites, opts):
    """Cases per size preset, over every case-based suite: [(preset, cases)]."""
    groups = []
    seen = set()
    fastml_backends = tuple(b for b in opts.backends if b != "auto")
    for preset in opts.sizes:
        cases = []
        for suite in suites:
            extra = {"metrics": opts.metrics} if suite == "distance" else {}
            peers = tuple(p for p in opts.peers if p in _suite_peers(suite))
            cases += _suite_builder(suite)(
                sizes=preset,
                dtypes=tuple(opts.dtypes),
                backends=fastml_backends,
                peers=peers,
                all_at_python_size=True,
                **extra,
            )
        keep = []
        for case in cases:
            if "auto" not in opts.backends:
                case.impls.pop("fastml-auto", None)
            key = (case.suite, case.op, case.shape, case.dtype)
            if key in seen or not case.impls:
                continue
            seen.add(key)
            keep.append(case)
        groups.append((preset, keep))
    return groups


def _compare_only(args):
    from .compare import compare, format_comparison

    if len(args.compare) != 2:
        raise UsageError("--compare takes OLD.json, or OLD.json NEW.json")
    old = _load_compare(args.compare[0])
    new = _load_compare(args.compare[1])
    result = compare(old, new, threshold=args.threshold)
    print(format_comparison(result, "old", "new"), end="")
    return 1 if (args.fail_on_regression and result["regressions"]) else 0


def _load_compare(path):
    from .compare import ResultsFileError, load_results

    try:
        return load_results(path)
    except ResultsFileError as exc:
        raise UsageError(f"--compare: {exc}") from None


def _unique_path(out, stem, ext):
    path = os.path.join(out, f"{stem}{ext}")
    i = 2
    while os.path.exists(path):
        path = os.path.join(out, f"{stem}-{i}{ext}")
        i += 1
    return path


def main(argv=None):
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``). A leading ``"bench"`` (the
        console script's subcommand) is accepted and ignored; ``"config"``
        prints :func:`fastml.show_config`.
    """
    if argv is None:
        argv = sys.argv[1:]
    argv = list(argv)
    prog = "python -m fastml.bench"
    if argv[:1] == ["bench"]:
        argv = argv[1:]
        prog = "fastml bench"
    elif argv[:1] == ["config"]:
        import fastml

        fastml.show_config()
        return 0
    try:
        return _main(argv, prog)
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except BrokenPipeError:  # `fastml bench | head`
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return 1


def _main(argv, prog):
    args = _parser(prog).parse_args(argv)
    if args.compare is not None and len(args.compare) == 2:
        return _compare_only(args)
    if args.compare is not None and len(args.compare) > 2:
        raise UsageError("--compare takes OLD.json, or OLD.json NEW.json")
    if not 0 <= args.threshold < 10:
        raise UsageError(f"--threshold must be between 0 and 10; got {args.threshold}")
    old = _load_compare(args.compare[0]) if args.compare else None
    skipped = []
    opts = _Options(args, skipped)
    _check_out(args.out)

    runnable = []
    for suite in opts.suites:
        if SUITES[suite] is not None and _suite_module(suite) is None:
            msg = "not available yet (no kernels)"
            _note(f"suite {suite!r} {msg}; skipped")
            skipped.append({"what": "suite", "name": suite, "reason": msg})
        else:
            runnable.append(suite)
    if not runnable:
        return 0
    # Default peers: every peer the suites compare with; missing ones are skipped.
    relevant = [p for p in PEERS if any(p in _suite_peers(s) for s in runnable)]
    for peer in relevant if opts.asked_peers is None else opts.asked_peers:
        if not peer_available(peer):
            skipped.append({"what": "peer", "name": peer, "reason": "not installed"})
        elif peer not in relevant:
            reason = f"no implementation in suite {', '.join(runnable)}"
            skipped.append({"what": "peer", "name": peer, "reason": reason})
        else:
            opts.peers.append(peer)
    for s in skipped:
        if s["what"] != "suite":
            _note(f"{s['what']} {s['name']!r} skipped: {s['reason']}")

    return _run(argv, args, opts, runnable, skipped, old)


def _run(argv, args, opts, runnable, skipped, old):
    from .report import add_speedups, machine_context, markdown_tables, new_document, write_json

    t_start = time.perf_counter()
    groups = _build([s for s in runnable if s != "startup"], opts)
    n_startup = 0
    if "startup" in runnable:
        from .startup import STARTUP_REPEAT

        n_startup = opts.repeat or max(STARTUP_REPEAT[s] for s in opts.sizes)
    total = sum(len(c) for _, c in groups) + 2 * n_startup
    progress = Progress(total, enabled=not args.quiet)
    doc = new_document(argv, opts.settings())
    doc["skipped"] = skipped
    records = doc["results"]
    interrupted = False
    try:
        with thread_limits(opts.threads) as info:
            doc["settings"]["thread_limits"] = info
            doc["machine"] = machine_context()
            for preset, cases in groups:
                preset_cfg = PRESETS[preset]
                repeat = opts.repeat or preset_cfg["repeat"]
                budget = None if opts.repeat else preset_cfg["budget"]
                run_cases(cases, repeat, budget, progress=progress, on_record=records.append)
            if n_startup:
                from .startup import run_startup

                run_startup(n_startup, opts.threads, progress=progress, on_record=records.append)
    except KeyboardInterrupt:
        interrupted = True
        progress.close()
        _note("interrupted: reporting what was measured")
    else:
        progress.close()
    doc["complete"] = not interrupted
    doc["wall_time_s"] = time.perf_counter() - t_start
    add_speedups(records)

    if records:
        print(markdown_tables(doc), end="")
    stem = "bench-" + time.strftime("%Y%m%d-%H%M%S")
    try:
        json_path = write_json(doc, _unique_path(args.out, stem, ".json"))
    except OSError as exc:
        _note(f"cannot write results to {args.out!r}: {exc.strerror or exc}")
        return 1
    written = [json_path]
    if not args.no_plots and records:
        try:
            from ..plotting import write_benchmark_plots

            written += write_benchmark_plots(
                doc, args.out, prefix=os.path.basename(json_path)[: -len(".json")]
            )
        except ImportError:
            _note("matplotlib is not installed: no plots (pip install matplotlib)")
    print()
    print("Wrote " + ", ".join(written))
    failed = [r for r in records if r["status"] != "ok"]
    print(
        f"{len(records)} measurements in {doc['wall_time_s']:.0f} s, {opts.threads} threads"
        + (f"; {len(failed)} FAILED" if failed else "")
    )
    status = 0
    if old is not None:
        from .compare import compare, format_comparison

        result = compare(old, doc, threshold=args.threshold)
        print()
        print(format_comparison(result, "old", "new"), end="")
        if args.fail_on_regression and result["regressions"]:
            status = 1
    if failed:
        status = 1
    if interrupted:
        status = 130
    return status


if __name__ == "__main__":
    sys.exit(main())
