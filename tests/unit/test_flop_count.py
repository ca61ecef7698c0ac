"""Compute counted both ways (analysis/flop_count.py): synthetic IsoFLOP studies whose truth lives in full FLOPs
(budgets met in full FLOPs, the compute-optimal frontier defined by them), drawn with the full/paper overhead of our
models (analysis/synthetic.py full_per_token: 2.6x at N = 800, 1.2x at 4e4) from a law with alpha != beta."""

import warnings

import numpy as np
import pytest

from plm_scaling.analysis import isoflop, synthetic
from plm_scaling.analysis.powerlaw import fit_loglog

LAW = synthetic.calibrated_law(0.34, 0.28)
BUDGETS = synthetic.TWO_DECADES
REPLICATES = 8
SD = 0.0005  # a quarter of our seed noise: the test is of the counting, not of the noise


def truth(count: str) -> float:
    """The N_opt exponent of the law's own optima over these budgets in `count` FLOPs (numerical optima)."""
    optima = [synthetic.true_optimum(LAW, c, count) for c in BUDGETS]
    return fit_loglog(np.array(BUDGETS), np.array(optima))["exponent"]


def recounted_truth(count: str) -> float:
    """The exponent of the true optima of budgets met in `count`, their compute re-counted in the other count."""
    optima = np.array([synthetic.true_optimum(LAW, c, count) for c in BUDGETS])
    ratio = synthetic.full_per_token(optima) / (6 * optima)  # full / paper FLOPs per token at each optimum
    other = np.array(BUDGETS) * (ratio if count == "paper" else 1 / ratio)
    return fit_loglog(other, optima)["exponent"]


def mean_exponents(met_in: str, fitted_in: str) -> tuple[float, float]:
    """(n_opt, n_opt_other) exponents, mean over replicates, of studies met in one count and fitted in another."""
    got = []
    for r in range(REPLICATES):
        study = synthetic.draw_study(LAW, BUDGETS, np.random.default_rng(r), sd=SD, count=met_in)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = isoflop.fit(synthetic.study_table(study), "synthetic", bootstrap=0, compute=fitted_in)
        assert fit["other_compute"] == {"paper": "full", "full": "paper"}[fitted_in]
        got.append((fit["n_opt"]["exponent"], fit["n_opt_other"]["exponent"]))
    return tuple(np.mean(got, axis=0))


def test_the_truth_in_full_flops_is_recovered_only_by_the_fit_in_full_flops():
    full_truth, paper_truth = truth("full"), truth("paper")
    assert abs(full_truth - paper_truth) > 0.01  # the two truths differ: a wrong count cannot pass by chance
    in_full, full_as_paper = mean_exponents("full", "full")
    assert in_full == pytest.approx(full_truth, abs=0.004)
    # the study met in 6·N·D: its own law misses the full truth, and so do its optima re-counted in full FLOPs
    in_paper, paper_as_full = mean_exponents("paper", "paper")
    assert in_paper == pytest.approx(paper_truth, abs=0.004)
    assert abs(in_paper - full_truth) > 0.008 and abs(paper_as_full - full_truth) > 0.05
    # the full study's optima re-counted in 6·N·D miss the paper truth by as much: counts are not interchangeable
    assert abs(full_as_paper - paper_truth) > 0.04
    # and each re-count is the re-count of the true optima (r(N) interpolated between the sizes trained)
    assert paper_as_full == pytest.approx(recounted_truth("paper"), abs=0.006)
    assert full_as_paper == pytest.approx(recounted_truth("full"), abs=0.006)


def test_a_full_count_fit_of_a_table_without_one_is_refused():
    from plm_scaling.analysis.table import TableError

    study = synthetic.draw_study(LAW, BUDGETS, np.random.default_rng(0), sd=SD)
    table = synthetic.study_table(study)
    table.cols["x_full"][:] = np.nan  # the released logs: one count only
    with pytest.raises(TableError, match="compute full: rows without a full FLOP count"):
        isoflop.fit(table, "synthetic", bootstrap=0, compute="full")
    paper = isoflop.fit(table, "synthetic", bootstrap=0)
    assert paper["other_compute"] is None and "n_opt_other" not in paper


def test_resamples_that_fit_no_law_are_counted_beside_the_interval():
    """Three budgets, one of whose minima sits near an edge: some resamples lose budgets and fit no law."""
    study = synthetic.draw_study(LAW, synthetic.OURS, np.random.default_rng(3), sizes=3, step=3.0, sd=0.004)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = isoflop.fit(synthetic.study_table(study), "synthetic", bootstrap=200, seed=0)
    failed = fit["resamples"]["without_law"]
    assert fit["resamples"]["requested"] == 200 and failed > 0
    # 3 sizes per budget: a parabola through them leaves no residual, so the bootstrap draws runs, and says so
    assert fit["resamples"]["method"].startswith("runs (no budget has more points than")
    for key in ("n_opt", "d_opt", "loss", "n_opt_other"):
        assert fit[key]["failed"] == 200 - len(fit[key]["samples"]) >= failed
