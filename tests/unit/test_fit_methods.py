"""vpnls recovers a known law; the fitting-method benchmark (benchmarks/fit_methods.py) measures sane bias and
coverage on a handful of replicates."""

import numpy as np
import pytest

from plm_scaling.analysis import synthetic
from plm_scaling.analysis.parametric import predict
from plm_scaling.analysis.vpnls import fit_vpnls

LAW = synthetic.calibrated_law(0.34, 0.28)  # α > β: the case where IsoFLOP parabolas are said to be biased


def _grid(law, noise: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    return synthetic.draw_study(law, synthetic.TWO_DECADES, rng, sd=noise)


@pytest.mark.parametrize("exponents", [(0.34, 0.28), (0.28, 0.34)], ids=["alpha>beta", "alpha<beta"])
def test_vpnls_recovers_a_noiseless_law(exponents):
    law = synthetic.calibrated_law(*exponents)
    s = _grid(law, noise=0.0)
    fit = fit_vpnls(s["n"], s["d"], s["loss"])
    assert fit["status"]["ok"]
    for key in ("alpha", "beta"):
        assert fit[key] == pytest.approx(law[key], abs=1e-4), key
    for key in ("E", "A", "B"):
        assert fit[key] == pytest.approx(law[key], rel=1e-3), key
    assert fit["n_opt_exponent"] == pytest.approx(synthetic.n_opt_exponent(law), abs=1e-5)
    assert np.allclose(predict(fit, s["n"], s["d"]), s["loss"], atol=1e-8)


def test_vpnls_bootstrap_interval_covers_truth_and_counts_failures():
    s = _grid(LAW, noise=0.001, seed=3)
    fit = fit_vpnls(s["n"], s["d"], s["loss"], bootstrap=40, seed=0)
    lo, hi = fit["ci95"]["n_opt_exponent"]
    assert lo < synthetic.n_opt_exponent(LAW) < hi and hi - lo < 0.1
    assert 0 <= fit["failed"] <= 40 and len(fit["samples"]) == 40 - fit["failed"]
    again = fit_vpnls(s["n"], s["d"], s["loss"], bootstrap=40, seed=0)
    assert again["ci95"] == fit["ci95"]  # deterministic given the seed


def test_vpnls_counts_resamples_that_cannot_give_a_law():
    # 5 points: most resamples hold fewer than 3 distinct sizes or make a term vanish.
    n = np.array([1e3, 2e3, 4e3, 8e3, 1.6e4])
    d = 1e11 / (6 * n)
    fit = fit_vpnls(n, d, predict(LAW, n, d), bootstrap=30, seed=1)
    assert fit["failed"] > 0


def test_benchmark_measures_bias_and_coverage():
    out = synthetic.benchmark(LAW, synthetic.OURS, replicates=5, bootstrap=20, seed=0, methods=("interp", "vpnls"))
    for method, r in out.items():
        assert r["laws"] >= 4, method
        assert abs(r["bias"]) < 0.05 and r["rmse"] < 0.1, (method, r)
        assert 0 < r["width"] < 0.5 and 0 <= r["coverage"] <= 1 and r["intervals"] >= 4, (method, r)
        assert r["failed"] >= 0


def test_summary_of_known_results():
    results = [{"exponent": 0.5, "ci95": [0.4, 0.6], "failed": 2}, {"exponent": 0.7, "ci95": [0.65, 0.75], "failed": 4}]
    r = synthetic.summarise(0.5, [*results, None])
    assert r["laws"] == 2 and r["replicates"] == 3
    assert r["bias"] == pytest.approx(0.1) and r["rmse"] == pytest.approx(np.sqrt(0.02))
    assert r["coverage"] == 0.5 and r["width"] == pytest.approx(0.15) and r["failed"] == 3


def test_vpnls_refuses_points_with_two_distinct_sizes():
    """Two sizes fix no exponent of N: a law from them would be any law (the study fit reports the error)."""
    from plm_scaling.analysis.vpnls import fit_vpnls

    n = np.array([1e3, 1e3, 1e3, 4e3, 4e3, 4e3])
    d = np.array([1e6, 2e6, 4e6, 1e6, 2e6, 4e6])
    with pytest.raises(ValueError, match="at least 3 distinct N and D, got 2 and 3"):
        fit_vpnls(n, d, 2 + 100 / n**0.3 + 300 / d**0.3)
