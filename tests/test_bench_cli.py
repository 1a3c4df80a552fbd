"""The benchmark command line (``fastml bench`` / ``python -m fastml.bench``), end to end.

Everything runs at the hidden "tiny" size preset (40 x 40 x 8; pure Python at
12 x 12 x 8) with few metrics, so the file takes seconds, not minutes.
"""

from __future__ import annotations

import contextlib
import copy
import glob
import io
import json
import os
import subprocess
import sys

import pytest

import fastml
from fastml.bench import __main__ as cli
from fastml.bench import runner
from fastml.bench.report import RECORD_FIELDS, SCHEMA, TOP_FIELDS, validate

TINY = ["--sizes", "tiny", "--quiet"]


def run_main(argv):
    """Call ``main(argv)`` and return (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(argv)
    return status, out.getvalue(), err.getvalue()


def the_json(out_dir):
    (path,) = glob.glob(os.path.join(out_dir, "bench-*.json"))
    with open(path) as fh:
        return path, json.load(fh)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("bench"))
    backends = ",".join(b for b in ("python", "numpy", "numba") if b in fastml.available_backends())
    status, stdout, stderr = run_main(
        ["bench", "--suite", "distance,neighbors", *TINY, "--metrics", "sqeuclidean,cityblock"]
        + ["--dtype", "float64", "--backends", backends + ",auto", "--peers", "scipy,numpy"]
        + ["--repeat", "3", "--threads", "1", "--out", out]
    )
    return status, stdout, stderr, out


def test_tiny_run_prints_the_table(tiny_run):
    status, stdout, stderr, _ = tiny_run
    assert status == 0, stderr
    assert (
        "| case | impl | median | min - max | first call | per pair | x python (per pair) |"
        in stdout
    )
    assert "x scipy" in stdout and "x numpy-matmul" in stdout
    assert "cdist-sqeuclidean 40x40x8 float64" in stdout
    assert "cdist-cityblock 12x12x8 float64" in stdout
    assert "1x (baseline)" in stdout
    assert "*" in stdout and "extrapolated" in stdout  # per-pair extrapolation is labelled
    assert "kneighbors-euclidean-k10 60x80x8 float64" in stdout  # the neighbors suite ran
    assert "Traceback" not in stderr


def test_tiny_run_json_matches_documented_fields(tiny_run):
    _, _, _, out = tiny_run
    _, doc = the_json(out)
    validate(doc)
    assert set(TOP_FIELDS) <= set(doc)
    assert doc["schema"] == SCHEMA and doc["complete"] is True
    assert doc["settings"]["threads"] == 1 and doc["settings"]["sizes"] == ["tiny"]
    assert not [s for s in doc["skipped"] if s.get("name") == "neighbors"]
    machine = doc["machine"]
    for key in ("fastml", "numpy", "numba", "cpu", "cores", "threads", "versions"):
        assert key in machine
    assert "scipy" in machine["versions"] and "Cython" in machine["versions"]
    recs = doc["results"]
    assert all(set(RECORD_FIELDS) <= set(r) for r in recs)
    assert all(r["status"] == "ok" for r in recs)
    impls = {r["impl"] for r in recs}
    assert {"fastml-python", "fastml-numpy", "fastml-auto", "scipy", "numpy-matmul"} <= impls
    for r in recs:
        assert r["repeats"] == len(r["times_s"]) == 3
        assert r["min_s"] <= r["median_s"] <= r["max_s"]
        assert r["first_call_s"] > 0
        assert r["per_unit_s"] == pytest.approx(r["median_s"] / r["units"])
        assert r["speedup_vs_python"] > 0
        # Measured at the python size, extrapolated (per pair) at the main size.
        assert r["speedup_vs_python_extrapolated"] == (r["role"] == "main")
        if (
            r["kind"] != "peer" and r["suite"] == "distance"
        ):  # the neighbors suite has no scipy peer
            assert "scipy" in r["speedup_vs"]


def test_tiny_run_writes_pngs(tiny_run):
    pytest.importorskip("matplotlib")
    _, stdout, _, out = tiny_run
    pngs = sorted(glob.glob(os.path.join(out, "*.png")))
    names = [os.path.basename(p) for p in pngs]
    assert any("-speedup-distance-float64" in n for n in names)
    assert any("-scaling-distance-float64" in n for n in names)  # two sizes measured
    for p in pngs:
        with open(p, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
        assert os.path.getsize(p) > 2000
        assert p in stdout


def test_subprocess_python_m(tmp_path, tiny_run):
    old_json, _ = the_json(tiny_run[3])
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "fastml.bench", "--suite", "distance", *TINY]
        + ["--metrics", "euclidean", "--dtype", "float32", "--backends", "python,numpy"]
        + ["--peers", "scipy,faiss", "--no-plots", "--out", str(out), "--compare", old_json],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "cdist-euclidean 40x40x8 float32" in proc.stdout
    assert "### compare" in proc.stdout
    assert "Traceback" not in proc.stderr
    _, doc = the_json(out)
    validate(doc)
    assert {r["impl"] for r in doc["results"]} == {"fastml-python", "fastml-numpy", "scipy"}
    if not fastml.bench.cases.peer_available("faiss"):
        assert any(s["name"] == "faiss" and s["what"] == "peer" for s in doc["skipped"])
        assert "peer 'faiss' skipped: not installed" in proc.stderr


def test_compare_flags_a_regression(tiny_run, tmp_path):
    _, old = the_json(tiny_run[3])

    def set_times(doc, times):
        rec = next(r for r in doc["results"] if r["impl"] == "scipy")
        rec.update(times_s=times, median_s=times[1], min_s=min(times), max_s=max(times))

    # Microsecond timings are noisy (their spread is the noise allowed): use steady ones.
    old = copy.deepcopy(old)
    set_times(old, [1.00, 1.01, 1.03])
    new = copy.deepcopy(old)
    set_times(new, [3.00, 3.03, 3.05])  # 3x slower, 2 % spread: a regression
    old_path, new_path = tmp_path / "old.json", tmp_path / "new.json"
    old_path.write_text(json.dumps(old))
    new_path.write_text(json.dumps(new))
    old_path, new_path = str(old_path), str(new_path)

    status, stdout, stderr = run_main(["--compare", old_path, new_path])
    assert status == 0, stderr
    assert "**REGRESSION**" in stdout
    assert "1 regression beyond noise" in stdout
    line = next(ln for ln in stdout.splitlines() if "REGRESSION" in ln)
    assert "scipy" in line and "3.000" in line

    status, stdout, _ = run_main(["--compare", old_path, new_path, "--fail-on-regression"])
    assert status == 1

    status, stdout, _ = run_main(["--compare", old_path, old_path])
    assert status == 0 and "0 regressions beyond noise" in stdout and "REGRESSION" not in stdout


def test_failed_check_is_reported_not_timed(tmp_path, monkeypatch):
    real = cli.distance_cases

    def broken(*args, **kwargs):
        cases = real(*args, **kwargs)
        for case in cases:
            good = case.impls["fastml-numpy"]
            case.impls["fastml-numpy"] = lambda d, good=good: good(d) + 1.0
        return cases

    monkeypatch.setattr(cli, "distance_cases", broken)
    status, stdout, _ = run_main(
        ["--suite", "distance", *TINY, "--metrics", "cityblock", "--dtype", "float64"]
        + ["--backends", "numpy", "--peers", "scipy", "--no-plots", "--out", str(tmp_path)]
    )
    assert status == 1
    assert "**FAILED**" in stdout
    _, doc = the_json(tmp_path)
    bad = [r for r in doc["results"] if r["impl"] == "fastml-numpy"]
    assert bad and all(r["status"] == "failed" and r["times_s"] == [] for r in bad)
    assert all(r["status"] == "ok" for r in doc["results"] if r["impl"] == "scipy")


def test_interrupt_still_writes_what_was_measured(tmp_path, monkeypatch):
    real = runner.measure_impl
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "measure_impl", interrupted)
    status, stdout, stderr = run_main(
        ["--suite", "distance", *TINY, "--metrics", "cityblock", "--dtype", "float64"]
        + ["--backends", "numpy", "--peers", "scipy,numpy", "--no-plots", "--out", str(tmp_path)]
    )
    assert status == 130
    assert "interrupted" in stderr
    assert "Interrupted: partial results." in stdout
    _, doc = the_json(tmp_path)
    assert doc["complete"] is False and len(doc["results"]) == 2


def test_startup_suite(tmp_path):
    status, stdout, stderr = run_main(
        ["--suite", "startup", *TINY, "--repeat", "1", "--no-plots", "--out", str(tmp_path)]
    )
    assert status == 0, stderr
    assert "### startup" in stdout
    _, doc = the_json(tmp_path)
    ops = {r["op"]: r for r in doc["results"]}
    assert ops["import-fastml"]["status"] == "ok"  # and numba was not imported by it
    assert ops["import-fastml"]["repeats"] == 2  # cold-cache and warm-cache processes
    if "numba" in fastml.available_backends():
        cold = ops["numba-first-call-cold-cache"]["median_s"]
        warm = ops["numba-first-call-warm-cache"]["median_s"]
        assert cold > warm > 0
    if "cython" in fastml.available_backends():
        assert ops["cython-first-call"]["status"] == "ok"


@pytest.mark.parametrize(
    "argv",
    [
        ["--suite", "nope"],
        ["--backends", "cuda"],
        ["--peers", "scipy,bogus"],
        ["--dtype", "int8"],
        ["--sizes", "huge"],
        ["--metrics", "nope"],
        ["--repeat", "0"],
        ["--threads", "two"],
        ["--unknown-flag"],
        ["--compare", "a.json", "b.json", "c.json"],
    ],
)
def test_bad_input_one_line_error(argv, tmp_path):
    status, stdout, stderr = run_main([*argv, "--out", str(tmp_path)])
    assert status == 2
    assert stdout == ""
    assert len(stderr.strip().splitlines()) == 1 and "error:" in stderr
    assert "Traceback" not in stderr


def test_unwritable_out_and_malformed_compare(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    status, _, stderr = run_main(["--suite", "distance", *TINY, "--out", str(blocker / "sub")])
    assert (
        status == 2 and len(stderr.strip().splitlines()) == 1 and "cannot write to --out" in stderr
    )

    for text in ("{not json", json.dumps({"schema": SCHEMA}), "[]"):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        status, _, stderr = run_main(["--compare", str(bad), "--out", str(tmp_path)])
        assert status == 2 and len(stderr.strip().splitlines()) == 1, stderr
        assert "--compare" in stderr

    # Through the real entry point too: no traceback.
    proc = subprocess.run(
        [sys.executable, "-m", "fastml.bench", "--compare", str(tmp_path / "missing.json")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_only_unavailable_suites_is_not_an_error(tmp_path, monkeypatch):
    # Two suites whose cases modules do not exist (as in a partial install).
    suites = {
        **cli.SUITES,
        "ghost1": "fastml.bench.no_such_module:cases",
        "ghost2": "fastml.bench.nor_this_one:cases",
    }
    monkeypatch.setattr(cli, "SUITES", suites)
    status, stdout, stderr = run_main(["--suite", "ghost1,ghost2", "--out", str(tmp_path)])
    assert status == 0
    assert stderr.count("not available yet (no kernels)") == 2
    assert len(stderr.strip().splitlines()) == 2


def test_plot_benchmark_and_history(tiny_run):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from fastml.plotting import plot_benchmark, plot_history

    path, doc = the_json(tiny_run[3])
    fig = plot_benchmark(path)  # a file path works as well as a dict
    assert isinstance(fig, Figure) and fig.axes[0].get_yscale() == "log"
    assert "extrapolated" in fig.axes[0].get_title()
    fig = plot_benchmark(doc, kind="scaling")
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match="kind"):
        plot_benchmark(doc, kind="pie")

    class Stub:
        history_ = {"loss": [1.0, 0.5, 0.3, 0.25], "val_loss": [1.1, 0.6, 0.4, 0.38]}

    fig = plot_history(Stub())
    (ax,) = fig.axes
    assert [ln.get_label() for ln in ax.get_lines()] == ["loss", "val_loss"]
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3, 4]

    class Unfitted:
        pass

    with pytest.raises(ValueError, match="history_"):
        plot_history(Unfitted())


def test_config_subcommand():
    status, stdout, _ = run_main(["config"])
    assert status == 0 and "fastml" in stdout and "backends" in stdout


def test_primed_time_outlasts_what_the_previous_call_left():
    """primed_time calls untimed for at least prime_seconds (at least once),
    then returns the duration of one more call, the last."""
    import time

    calls = []

    def step(tag):
        calls.append((tag, time.perf_counter()))
        time.sleep(0.004)

    t0 = time.perf_counter()
    took = runner.primed_time(step, "x", prime_seconds=0.05)
    assert all(tag == "x" for tag, _ in calls)
    assert len(calls) >= 3  # >= 0.05 s of 4 ms calls, then the timed one
    assert calls[-1][1] - t0 >= 0.05  # the timed call starts after the priming
    assert 0.004 <= took < time.perf_counter() - calls[-2][1]
    calls.clear()
    runner.primed_time(step, "y", prime_seconds=0.0)
    assert [tag for tag, _ in calls] == ["y", "y"]  # one untimed call, one timed
