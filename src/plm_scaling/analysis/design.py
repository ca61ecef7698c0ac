"""Adaptive against fixed IsoFLOP designs at equal compute, on synthetic truth (benchmarks/adaptive_design.py).

Both designs draw losses from the same known law L(N, D) with our seed noise (synthetic.py) and are fitted by the
method the workflow reports first (interp, isoflop.fit, with its bootstrap). A fixed design is a grid of budgets
× sizes ×`step` apart, centred within half a step of a guess: the true optimum, or `miss` times it. The adaptive
design starts from a coarse grid (3 sizes per budget, ×`coarse_step` apart, centred the same way) and runs the
workflow's planner (adaptive.py) round after round until it stops, with the fixed design's total compute as its
cap. Per design: the N_opt exponent's bias and RMSE, the median width and the coverage of its 95% interval, how
often a budget is lost to an edge minimum, and how often no law is fitted at all.
"""

from __future__ import annotations

import warnings

import numpy as np

from . import isoflop
from .adaptive import Run, Settings, plan
from .synthetic import SEED_NOISE, n_opt_exponent, predict, study_table, true_optimum


def _runs_study(runs: list[Run]) -> dict:
    n, c = np.array([r.n for r in runs]), np.array([r.c for r in runs])
    return {"c": c, "c_full": c, "n": n, "loss": np.array([r.loss for r in runs])}


def _draw(law: dict, c: float, sizes, rng, seed: int = 0, sd: float = SEED_NOISE) -> list[Run]:
    return [Run(c, float(n), seed, float(predict(law, n, c / (6 * n)) + rng.normal(0, sd))) for n in sizes]


def _grid(law: dict, budgets, sizes: int, step: float, rng, miss: float = 1.0) -> list[Run]:
    """Sizes ×step apart per budget, centred within half a step of `miss` × the true optimum (a guess)."""
    runs = []
    for c in budgets:
        centre = miss * true_optimum(law, c) * step ** rng.uniform(-0.5, 0.5)
        runs += _draw(law, c, centre * step ** (np.arange(sizes) - (sizes - 1) / 2), rng)
    return runs


def _fit(runs: list[Run], bootstrap: int, seed: int) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = study_table(_runs_study(runs))
        try:
            return isoflop.fit(table, "design", bootstrap=bootstrap, seed=seed)
        except ValueError as err:
            return {"error": str(err), **isoflop.profiles(table, "design")}


def _outcome(fit: dict, runs: list[Run], rounds: int = 0, stop: str | None = None) -> dict:
    law = fit.get("n_opt")
    edges = sum(b["status"] == "edge" for b in fit.get("budgets", []))
    return {
        "exponent": law["exponent"] if law else None,
        "ci95": law.get("ci95") if law else None,
        "edge_budgets": edges,
        "compute": float(sum(r.c for r in runs)),
        "runs": len(runs),
        "rounds": rounds,
        "stop": stop,
    }


def fixed(law: dict, budgets, sizes: int, step: float, rng, bootstrap: int, seed: int, miss: float = 1.0) -> dict:
    runs = _grid(law, budgets, sizes, step, rng, miss)
    return _outcome(_fit(runs, bootstrap, seed), runs)


def adaptive(
    law: dict, budgets, settings: Settings, rng, bootstrap: int, seed: int, miss: float = 1.0, coarse_step: float = 3.0
) -> dict:
    """The planner's rounds from a coarse grid until it stops; each round's runs drawn from the law."""
    runs = _grid(law, budgets, 3, coarse_step, rng, miss)
    for k in range(1, settings.max_rounds + 2):
        fit = _fit(runs, bootstrap, seed)
        decided = plan({"clm": (runs, fit)}, settings, k)
        if decided["stop"]:
            return _outcome(fit, runs, k - 1, decided["stop"])
        for d in decided["decisions"]:
            for r in d["runs"]:
                runs += _draw(law, d["c"], [r["n"]], rng, r["seed"])
    raise AssertionError("the planner ran past its round limit")


def summary(truth: float, outcomes: list[dict]) -> dict:
    """Bias, RMSE, median width and coverage of the exponent's interval; budgets lost to edges; studies without law."""
    got = [o for o in outcomes if o["exponent"] is not None]
    err = np.array([o["exponent"] - truth for o in got])
    ints = [o["ci95"] for o in got if o["ci95"]]
    return {
        "replicates": len(outcomes),
        "no_law": len(outcomes) - len(got),
        "bias": float(err.mean()) if got else float("nan"),
        "rmse": float(np.sqrt((err**2).mean())) if got else float("nan"),
        "width": float(np.median([hi - lo for lo, hi in ints])) if ints else float("nan"),
        "coverage": float(np.mean([lo <= truth <= hi for lo, hi in ints])) if ints else float("nan"),
        "edge_lost": float(np.mean([o["edge_budgets"] > 0 for o in outcomes])),
        "compute": float(np.median([o["compute"] for o in outcomes])),
        "runs": float(np.median([o["runs"] for o in outcomes])),
        "rounds": float(np.median([o["rounds"] for o in outcomes])),
    }


def compare(law: dict, designs: dict, replicates: int, bootstrap: int, seed: int = 0) -> dict:
    """{design name: summary} for designs {name: callable(law, rng, bootstrap, seed) -> outcome}, each on its own
    stream of the same seeds."""
    truth = n_opt_exponent(law)
    out = {}
    for name, run in designs.items():
        rng = np.random.default_rng(seed)
        out[name] = summary(truth, [run(law, rng, bootstrap, seed + i) for i in range(replicates)])
    return out
