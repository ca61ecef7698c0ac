"""The extrapolation check's analysis: planning sizes from a law, and judging measured against predicted."""

import numpy as np
import pytest

from plm_scaling.analysis.extrapolation import assess, check_budget, plan_objective
from plm_scaling.sweep_point import SweepPoint

LAW = {"n_opt": {"coef": 0.05, "exponent": 0.5}, "loss": {"coef": 2.5, "exponent": -0.01}}


def _runs(planned: dict, means: dict, seeds: int, sd: float, seed: int = 0) -> list[dict]:
    rng, runs = np.random.default_rng(seed), []
    for multiple, size in planned["sizes"].items():
        for s in range(seeds):
            loss = means[multiple] + rng.normal(0, sd)
            point = SweepPoint("clm", size, s, flops=planned["budget"]).id
            runs.append({"sweep_point": point, "objective": "clm", "n": size, "flops": planned["budget"]})
            runs[-1].update(valid_loss=float(loss))
    return runs


def test_plan_sizes_are_multiples_of_the_predicted_optimum_at_the_check_budget():
    runs = [{"objective": "clm", "flops": c * 1.004} for c in (1e11, 3e11, 1e12)]  # within 1% of their budgets
    budget = check_budget(runs, "clm", 3)
    planned = plan_objective(LAW, budget)
    assert budget == 3e12
    assert planned["prediction"]["n_opt"] == pytest.approx(0.05 * 3e12**0.5)
    assert planned["sizes"] == {"0.5": 43000.0, "1.0": 87000.0, "2.0": 170000.0}  # 2 significant digits


def test_predicted_size_wins_when_both_neighbours_are_worse_beyond_the_noise():
    planned = plan_objective(LAW, 3e12)
    means = {"0.5": 2.95, "1.0": 2.90, "2.0": 2.93}
    e = assess(planned, _runs(planned, means, seeds=4, sd=0.002), sd=0.002, dof=9)
    assert e["predicted_size_wins"] is True and e["best_multiple"] == 1.0
    assert all(r["diff"] > 0 and r["beyond_noise"] for r in e["neighbours"])
    assert e["loss_error"] == pytest.approx(
        np.mean([r for r in e["measured"] if r["multiple"] == 1.0][0]["losses"]) - e["prediction"]["loss"]
    )


def test_a_better_neighbour_beyond_the_noise_means_the_prediction_lost():
    planned = plan_objective(LAW, 3e12)
    e = assess(planned, _runs(planned, {"0.5": 2.95, "1.0": 2.93, "2.0": 2.90}, 4, 0.002), sd=0.002, dof=9)
    assert e["predicted_size_wins"] is False and e["best_multiple"] == 2.0


def test_differences_within_the_noise_are_not_resolved():
    planned = plan_objective(LAW, 3e12)
    e = assess(planned, _runs(planned, {"0.5": 2.901, "1.0": 2.900, "2.0": 2.901}, 2, 0.01), sd=0.01, dof=3)
    assert e["predicted_size_wins"] is None and "within the seed noise" in e["why"]
    without_noise = assess(planned, _runs(planned, {"0.5": 3, "1.0": 2.9, "2.0": 3}, 1, 0.0), sd=None, dof=0)
    assert without_noise["predicted_size_wins"] is None and "no seed noise" in without_noise["why"]
