"""Timing: run :class:`~fastml.bench.cases.Case` objects and record every measurement.

Methodology, per implementation of a case:

1. one untimed-for-steady-state *first call* (Numba's JIT compile or cache
   load, lazy imports, first touch of the data); its duration is recorded
   separately as ``first_call_s``;
2. its result is checked once against the case's reference
   (:meth:`Case.check`); a failing check is recorded as ``"failed"`` and the
   implementation is not timed, so a fast wrong kernel cannot win;
3. after a short idle pause (:func:`settle`), ``repeat`` timed calls
   (``time.perf_counter``, garbage collector off), summarised by their
   median and min-max spread. Without an explicit
   ``--repeat``, an implementation whose calls exceed the preset's time
   budget gets fewer repeats (never fewer than :data:`MIN_REPEAT`): SciPy's
   minkowski takes ~17 s a call at the default size.

fastml's thread count is applied to the peers: :func:`fastml.set_num_threads`
for the Numba and OpenMP kernels, and ``threadpoolctl`` (if installed) caps
BLAS/OpenMP pools of NumPy, SciPy and scikit-learn at the same number.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import time

__all__ = [
    "MIN_REPEAT",
    "PRESETS",
    "Progress",
    "measure_impl",
    "primed_time",
    "run_cases",
    "settle",
    "thread_limits",
]

#: Seconds of idle time before a timed call (see :func:`settle`).
SETTLE_S = 0.25


def settle():
    """Sleep :data:`SETTLE_S` so that the next timed call starts on an idle machine.

    After a call, OpenBLAS keeps its worker threads busy-waiting for about
    0.1 s (OpenMP and Numba pools spin briefly too). On a 2-core machine that
    takes a core from whatever runs next: a 2-thread kernel timed right after
    NumPy's matrix products measured 1.5-2x slower than on an idle machine.
    """
    time.sleep(SETTLE_S)


#: Least time :func:`primed_time` spends in untimed calls before it times one:
#: longer than OpenBLAS's busy-wait after a call (about 0.1 s).
PRIME_SECONDS = 0.15


def primed_time(fn, *args, prime_seconds=PRIME_SECONDS):
    """Seconds taken by ``fn(*args)`` right after untimed calls of it lasting
    at least ``prime_seconds`` (at least one call).

    For side-by-side runs, where implementations alternate: the untimed calls
    absorb what the previous implementation left behind, so the timed call
    sees the steady state of repeated calls, as a loop in user code would.
    They must outlast it: OpenBLAS's threads busy-wait for about 0.1 s after a
    call, and one untimed call of a 7 ms full-batch step did not: the steps
    timed after NumPy's took 16-19 ms in alternation against 7-8 ms alone
    (2026-11-27). (A pause instead, :func:`settle`, leaves the caches cold: on
    this shared machine an 8 MB working set was evicted within 0.25 s.)
    """
    t_end = time.perf_counter() + prime_seconds
    fn(*args)
    while time.perf_counter() < t_end:
        fn(*args)
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


#: Per size preset: default repeats and the time budget (seconds) per
#: implementation and case that reduces the repeats of slow implementations.
PRESETS = {
    "tiny": {"repeat": 3, "budget": 0.5},
    "quick": {"repeat": 5, "budget": 1.0},
    "default": {"repeat": 7, "budget": 20.0},
    "full": {"repeat": 5, "budget": 60.0},
}

#: Fewest timed repeats a budget may reduce an implementation to.
MIN_REPEAT = 3


def _kind(impl):
    if impl == "fastml-python":
        return "baseline"
    return "fastml" if impl.startswith("fastml-") else "peer"


def _short_error(exc):
    """One line describing ``exc`` (assert_allclose messages span many lines)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    detail = "; ".join(
        ln for ln in lines if ln.startswith(("Mismatched", "Max absolute", "Max relative"))
    )
    head = lines[0] if lines else ""
    text = f"{type(exc).__name__}: {head}" + (f" ({detail})" if detail else "")
    return text[:300]


def base_record(case, impl):
    """The fields every measurement record of ``case`` / ``impl`` carries."""
    return {
        "suite": case.suite,
        "op": case.op,
        "size": case.size_label,
        "shape": list(case.shape),
        "role": getattr(case, "role", "main"),
        "dtype": case.dtype,
        "units": int(case.units),
        "unit": getattr(case, "unit", "pair"),
        "impl": impl,
        "kind": _kind(impl),
        "status": "ok",
        "error": None,
        "first_call_s": None,
        "times_s": [],
        "repeats": 0,
        "median_s": None,
        "min_s": None,
        "max_s": None,
        "per_unit_s": None,
    }


def _summarise(rec):
    import statistics

    times = rec["times_s"]
    rec["repeats"] = len(times)
    if times:
        rec["median_s"] = statistics.median(times)
        rec["min_s"] = min(times)
        rec["max_s"] = max(times)
        rec["per_unit_s"] = rec["median_s"] / max(rec["units"], 1)
    return rec


def measure_impl(case, impl, repeat, budget=None, clock=time.perf_counter):
    """Measure one implementation of ``case``: first call, check, timed repeats.

    Parameters
    ----------
    case : Case
    impl : str
        Key of ``case.impls``.
    repeat : int
        Timed repeats (upper bound when ``budget`` is given).
    budget : float, optional
        Seconds allowed for the timed repeats; slow implementations get
        ``max(MIN_REPEAT, budget // first_repeat)`` repeats instead.

    Returns
    -------
    dict
        A measurement record (see :mod:`fastml.bench.report` for the fields).
    """
    rec = base_record(case, impl)
    fn = case.impls[impl]
    inputs = case.inputs()
    try:
        t0 = clock()
        result = fn(inputs)
        rec["first_call_s"] = clock() - t0
    except Exception as exc:  # noqa: BLE001 - any failure of a kernel is reported, not raised
        rec.update(status="error", error=_short_error(exc))
        return rec
    try:
        case.check(result, inputs, impl)
    except AssertionError as exc:
        rec.update(status="failed", error=_short_error(exc))
        return rec
    finally:
        del result
    n = repeat
    gc.collect()
    settle()  # the check above may have left BLAS threads spinning
    enabled = gc.isenabled()
    gc.disable()
    try:
        i = 0
        while i < n:
            t0 = clock()
            fn(inputs)
            rec["times_s"].append(clock() - t0)
            if i == 0 and budget is not None and rec["times_s"][0] > 0:
                n = min(repeat, max(MIN_REPEAT, int(budget / rec["times_s"][0])))
            i += 1
    finally:
        if enabled:
            gc.enable()
    return _summarise(rec)


@contextlib.contextmanager
def thread_limits(threads):
    """Apply ``threads`` to fastml (Numba, OpenMP) and, via threadpoolctl, to BLAS.

    Yields a dict describing what was limited (stored in the results' settings).
    """
    import fastml

    info = {"fastml": threads, "threadpoolctl": False}
    previous = fastml._config._num_threads
    fastml.set_num_threads(threads)
    stack = contextlib.ExitStack()
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            info["note"] = "threadpoolctl not installed: BLAS thread count not limited"
        else:
            stack.enter_context(threadpool_limits(limits=threads))
            info["threadpoolctl"] = True
        with stack:
            yield info
    finally:
        fastml._config._num_threads = previous


class Progress:
    """Progress on stderr: a one-line bar on a terminal, else numbered lines.

    Nothing is shown during the first ``delay`` seconds, so short runs stay
    quiet; after that every step is shown.
    """

    def __init__(self, total, stream=None, enabled=True, delay=2.0):
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.delay = delay
        self.start = time.perf_counter()
        self.done = 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._drawn = False

    def step(self, label):
        """Announce the step about to run (``done`` steps are finished)."""
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        if elapsed < self.delay:
            return
        if self.tty:
            width = 24
            filled = int(width * self.done / max(self.total, 1))
            bar = "#" * filled + "-" * (width - filled)
            line = f"\r[{bar}] {self.done}/{self.total} {elapsed:6.0f} s  {label}"
            self.stream.write(line[:120].ljust(120))
            self._drawn = True
        else:
            self.stream.write(f"[{self.done + 1}/{self.total}] {elapsed:.0f} s  {label}\n")
        self.stream.flush()

    def advance(self):
        self.done += 1

    def close(self):
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def run_cases(cases, repeat, budget, progress=None, on_record=None, impl_filter=None):
    """Measure every implementation of every case, in order.

    Parameters
    ----------
    cases : list of Case
    repeat : int
    budget : float or None
    progress : Progress, optional
    on_record : callable, optional
        Called with each finished record (so an interrupted run keeps them).
    impl_filter : callable, optional
        ``impl_filter(impl) -> bool``; implementations it rejects are not run.

    Returns
    -------
    list of dict
        The records. A KeyboardInterrupt propagates after ``on_record`` has
        seen every finished record; the implementation being timed is dropped.
    """
    records = []
    try:
        for case in cases:
            impls = [i for i in case.impls if impl_filter is None or impl_filter(i)]
            if progress is not None:
                progress.step(f"{case.op} {case.size_label} {case.dtype} ({len(impls)} impls)")
            for impl in impls:
                rec = measure_impl(case, impl, repeat, budget)
                records.append(rec)
                if on_record is not None:
                    on_record(rec)
            case.release()
            if progress is not None:
                progress.advance()
    finally:
        for case in cases:
            case.release()
    return records
