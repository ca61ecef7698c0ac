"""The checked-in study of tests/fixtures/runs (tests/fixtures/make_runs.py) and its fit, computed once per session
by the study's own collect and analysis (study/collect.py, study/fit.py study_analysis): no MLflow, no training.

The parametric law is fitted from 2 L-BFGS starts, not 32 (as the audit tests' fixture does): the fixture's losses
are the law's own, so every start reaches it, and 32 starts take tens of seconds on a loaded 2-core machine."""

from __future__ import annotations

import contextlib
import functools
import json

import pytest

from plm_scaling.study import fit as fit_module
from plm_scaling.study.collect import collect
from plm_scaling.study.study_file import load_study

from ..conftest import FIXTURES

RUNS = FIXTURES / "runs"
POINTS = sorted(p.name for p in RUNS.iterdir() if p.is_dir())
BOOTSTRAP, SEED = 5, 0


@contextlib.contextmanager
def few_starts():
    """The parametric fit from 2 starts inside the block (the fit step and audit's re-derivation alike)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fit_module, "fit_parametric", functools.partial(fit_module.fit_parametric, starts=2))
        yield


@functools.cache
def _fitted() -> tuple:
    with few_starts():
        table, runs = collect(POINTS, "fixture", RUNS)
        analyse = fit_module.study_analysis(load_study(RUNS / "study.yaml").spec, None, BOOTSTRAP, SEED)
        return table, json.dumps(runs), json.dumps(analyse(table, runs))


def fitted() -> tuple:
    """(loss table, runs, fits per objective) as the fit step computes them; the runs and fits as the fits JSON
    holds them, a fresh copy each call (for a test to change)."""
    table, runs, fits = _fitted()
    return table, json.loads(runs), json.loads(fits)
