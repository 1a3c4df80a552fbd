"""The gradient-descent benchmark suite at the hidden "tiny" size: every case's
implementations pass their result checks, and ``fastml bench --suite linear``
runs end to end."""

from __future__ import annotations

import contextlib
import glob
import io
import json
import os

import numpy as np

from fastml.bench import __main__ as cli
from fastml.bench.cases_linear import linear_cases


def test_every_linear_case_passes_its_check():
    cases = linear_cases("tiny", dtypes=("float64",), all_at_python_size=True)
    assert {c.op for c in cases} == {
        "sgd-log_loss", "sgd-sparse-log_loss", "fullbatch-step", "minibatch-adam-256"
    }  # fmt: skip
    for case in cases:
        inputs = case.inputs()
        for impl, fn in case.impls.items():
            case.check(fn(inputs), inputs, impl)
        case.release()


def test_checks_reject_a_worse_loss_and_wrong_weights():
    cases = {c.op: c for c in linear_cases("tiny", dtypes=("float64",), backends=("python",))}
    sgd = cases["sgd-log_loss"]
    inputs = sgd.inputs()
    expected = sgd.expected(inputs)  # a fitted model, scored when checked
    loss = expected.loss()
    assert 0.0 < loss < np.log(2.0)  # trained: better than the zero model
    sgd.check(expected, inputs)
    sgd.check(loss * 1.005, inputs)
    try:
        sgd.check(loss * 1.02, inputs)
    except AssertionError as exc:
        assert "worse than the reference" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("a 2% worse loss passed the check")
    step = cases["fullbatch-step"]
    inputs = step.inputs()
    wrong = step.expected(inputs) + 1e-3
    with np.testing.assert_raises(AssertionError):
        step.check(wrong, inputs)


def test_cli_linear_suite(tmp_path):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = cli.main(
            [
                "bench",
                "--suite",
                "linear",
                "--sizes",
                "tiny",
                "--quiet",
                "--dtype",
                "float64",
                "--repeat",
                "3",
                "--threads",
                "1",
                "--out",
                str(tmp_path),
            ]  # fmt: skip
        )
    assert status == 0, out.getvalue()
    (path,) = glob.glob(os.path.join(tmp_path, "bench-*.json"))
    with open(path) as fh:
        doc = json.load(fh)
    ops = {r["op"] for r in doc["results"] if r["status"] == "ok"}
    assert ops == {"sgd-log_loss", "sgd-sparse-log_loss", "fullbatch-step", "minibatch-adam-256"}
    assert "sgd-log_loss" in out.getvalue()
