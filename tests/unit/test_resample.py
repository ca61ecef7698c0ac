"""The IsoFLOP bootstrap (analysis/resample.py): every resample held to the fit's own rule of 3 interior minima, and
the residual bootstrap that keeps every run and budget in a resample."""

import warnings

import numpy as np
import pytest

from plm_scaling.analysis import isoflop, synthetic

LAW = synthetic.calibrated_law(0.34, 0.28)


def _fit(study: dict, resample: str, bootstrap: int = 300, seed: int = 0) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return isoflop.fit(synthetic.study_table(study), "synthetic", bootstrap=bootstrap, seed=seed, resample=resample)


def _drop(study: dict, keep: np.ndarray) -> dict:
    return {k: v[keep] for k, v in study.items()}


def test_a_resample_with_fewer_interior_minima_than_the_fit_needs_is_no_law():
    """Three budgets; the largest keeps 3 of its 5 sizes, so a run resample that misses any of those 3 runs leaves it
    too few sizes for a minimum. Under the fit's rule (3 budgets) such a resample is no law, whatever the other two
    budgets give: at least 1 - P(all 3 runs drawn) of the resamples fail."""
    study = synthetic.draw_study(LAW, synthetic.OURS, np.random.default_rng(0), sd=0.0)
    keep = np.ones(study["n"].size, bool)
    keep[[10, 14]] = False  # the 1e12 budget's smallest and largest sizes
    study = _drop(study, keep)
    runs = study["n"].size  # 13
    all_three = 1 - 3 * (1 - 1 / runs) ** runs + 3 * (1 - 2 / runs) ** runs - (1 - 3 / runs) ** runs  # ~0.25
    fit = _fit(study, "runs")
    assert fit["resamples"]["method"] == "runs"
    assert fit["resamples"]["without_law"] / 300 >= (1 - all_three) - 0.08
    assert "fewer than 3 budgets" in fit["resamples"]["reason"]


def test_the_residual_bootstrap_keeps_every_budget_and_covers_the_truth():
    """Our 3 x 5 grid with our seed noise: a run resample fits no law in about half of the draws (held to the rule of
    3 budgets), a residual one in almost none; over 20 replicates its 95% interval holds the true exponent in most."""
    truth = synthetic.n_opt_exponent(LAW)
    rng = np.random.default_rng(1)
    covered, lost = 0, []
    for i in range(20):
        study = synthetic.draw_study(LAW, synthetic.OURS, rng)
        fit = _fit(study, "residual", bootstrap=100, seed=i)
        assert fit["resamples"]["method"] == "residual"
        lo, hi = fit["n_opt"]["ci95"]
        covered += lo <= truth <= hi
        lost.append(fit["resamples"]["without_law"])
    runs = _fit(study, "runs", bootstrap=100)
    assert np.median(lost) <= 5 < runs["resamples"]["without_law"]
    assert 16 <= covered  # 95% nominal: 16 of 20 or more with probability 0.98


def test_the_residual_bootstrap_scales_with_the_seed_noise():
    """The residuals carry the noise: the same grid with 4x the noise gives a wider interval; without noise the
    interval is a point up to the parabola's misfit."""
    widths = {}
    for sd in (0.0, 0.001, 0.004):
        study = synthetic.draw_study(LAW, synthetic.TWO_DECADES, np.random.default_rng(5), sd=sd)
        lo, hi = _fit(study, "residual", bootstrap=200)["n_opt"]["ci95"]
        widths[sd] = hi - lo
    assert widths[0.0] < 0.01 < widths[0.001] < widths[0.004] / 2


def test_an_unknown_bootstrap_method_is_refused():
    study = synthetic.draw_study(LAW, synthetic.OURS, np.random.default_rng(0))
    with pytest.raises(ValueError, match="bootstrap method 'jackknife' is not one of residual, runs"):
        _fit(study, "jackknife", bootstrap=3)
