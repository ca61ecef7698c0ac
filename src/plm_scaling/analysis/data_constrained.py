"""The data-constrained law (Muennighoff et al. 2023): repeated tokens and excess parameters are worth less.

With U unique tokens and repetitions R_D = D/U − 1, the effective data is D′ = U + U·R_D*·(1 − e^(−R_D/R_D*)); with
U_N the compute-optimal size for U and R_N = N/U_N − 1, the effective parameters N′ = U_N + U_N·R_N*·(1 −
e^(−R_N/R_N*)); the loss is the base law L(N′, D′) = E + A/N′^α + B/D′^β (parametric.py).

Fitted in two stages on any table of runs (`fit_two_stage`): the base law on the runs that see their data at most
once (D ≤ U; or rows the caller names; or a base law the caller gives, frozen), then R_D* and R_N* on every run with
the base law frozen. The second stage's objective is flat and often has two minima of nearly equal value, so it
starts from a grid and reports whether the starts agree (`starts`), and its profile over R_D* can be returned.
Intervals: bootstrap over runs (single-epoch and repeated runs resampled separately, so that every resample can fit
both stages); resamples that yield no law are counted with their reasons, never dropped silently. R* is "not
identified" when its interval spans more than a factor IDENTIFIED_SPAN or touches R_BOUNDS.

The law discounts parameters beyond U_N (the size compute-optimal for the data seen) even in a run that sees its data
once, so a single-epoch run larger than that is not a base-law run: the fit counts them (`oversized_base_runs`),
and a base law fitted with many of them is biased (on synthetic tables here, E by +0.5 of 1.8).
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from .parametric import LAW_KEYS, LBFGS_STARTS, _huber, compute_optimal, fit_parametric, identified, predict
from .powerlaw import ci95

# R* beyond these bounds is flat for the fit: repetition costs nothing (R* → ∞) or every repeat is wasted (R* → 0)
R_BOUNDS = (1e-3, 1e6)
LOG_R_BOUNDS = tuple(np.log(R_BOUNDS))
R_STARTS = (1.0, 5.0, 15.0, 50.0, 200.0)  # the second stage's grid of starts, in R_D* and R_N* alike
IDENTIFIED_SPAN = 10.0  # an R* whose 95% interval spans more than this factor is not a result
SAME_MINIMUM = 0.05  # end points of two starts within 5% in both R* are one minimum
NEAR_BEST = 0.01  # a minimum whose objective is within 1% of the best competes with it


def effective(u: np.ndarray, total: np.ndarray, r_star: float) -> np.ndarray:
    """U + U·R*·(1 − e^(−R/R*)) with R = total/U − 1 (R clipped at 0: no repetition, no discount)."""
    r = np.maximum(total / u - 1, 0)
    return u + u * r_star * (1 - np.exp(-r / r_star))


def n_for_data(law: dict, d) -> np.ndarray:
    """U_N: the N whose compute-optimal D equals d under the law (inverting D_opt(C))."""
    a, b = law["alpha"], law["beta"]
    g = (a * law["A"] / (b * law["B"])) ** (1 / (a + b))  # N_opt = g·(C/6)^(b/(a+b)), Hoffmann et al. eq. 4
    # N_opt = g·(C/6)^(b/(a+b)) and D_opt = (C/6)^(a/(a+b)) / g  =>  N_opt = g^((a+b)/a) · D^(b/a)
    return g ** ((a + b) / a) * np.asarray(d, float) ** (b / a)


def predict_data_constrained(law: dict, n, d, unique_tokens) -> np.ndarray:
    """L(N′, D′): repeated tokens and parameters beyond U_N count for less (R_D*, R_N*)."""
    n, d, u = (np.asarray(v, float) for v in (n, d, unique_tokens))
    u_d = np.minimum(u, d)  # U_D: a run shorter than its data sees D unique tokens, not U
    u_n = np.minimum(n, n_for_data(law, u_d))
    return predict(law, effective(u_n, n, law["R_N_star"]), effective(u_d, d, law["R_D_star"]))


def _stage2_objective(base: dict, n, d, u, loss):
    frozen = {k: base[k] for k in LAW_KEYS}

    def objective(log_r):
        log_r = np.clip(log_r, *LOG_R_BOUNDS)
        law = {**frozen, "R_D_star": np.exp(log_r[0]), "R_N_star": np.exp(log_r[1])}
        return float(np.sum(_huber(np.log(predict_data_constrained(law, n, d, u)) - np.log(loss))[0]))

    return frozen, objective


def fit_data_constrained(base: dict, n, d, unique_tokens, loss, start: dict | None = None) -> dict:
    """Stage 2: R_D* and R_N* with the base law frozen; Nelder-Mead in log R* from the grid R_STARTS², or from
    `start` alone (a bootstrap resample starts at the full fit's optimum). From the grid, `starts` says where
    each start ended and whether the minima that compete with the best agree with it."""
    n, d, u, loss = (np.asarray(v, float) for v in (n, d, unique_tokens, loss))
    frozen, objective = _stage2_objective(base, n, d, u, loss)
    grid = list(itertools.product(np.log(R_STARTS), np.log(R_STARTS)))
    ends = []
    for x0 in [np.log([start["R_D_star"], start["R_N_star"]])] if start else grid:
        res = minimize(objective, np.array(x0), method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-14})
        ends.append((float(res.fun), *np.exp(np.clip(res.x, *LOG_R_BOUNDS)), bool(res.success)))
    best = min(ends)
    law = {**frozen, "R_D_star": float(best[1]), "R_N_star": float(best[2])}
    law["status"] = {"success": best[3], "objective": best[0]}
    if not start:
        law["starts"] = _minima(ends)
    return law


def _minima(ends: list[tuple]) -> dict:
    """The distinct minima the starts reached (best first) and whether those within NEAR_BEST of the best agree."""
    minima: list[dict] = []
    for value, r_d, r_n, _ in sorted(ends):
        same = next((m for m in minima if _close(m["R_D_star"], r_d) and _close(m["R_N_star"], r_n)), None)
        if same:
            same["starts"] += 1
        else:
            minima.append({"R_D_star": float(r_d), "R_N_star": float(r_n), "objective": value, "starts": 1})
    best = minima[0]["objective"]
    competing = [m for m in minima if m["objective"] <= best * (1 + NEAR_BEST) + 1e-15]
    return {"tried": len(ends), "minima": minima[:5], "competing": len(competing), "agree": len(competing) == 1}


def _close(a: float, b: float) -> bool:
    return abs(np.log(a / b)) < SAME_MINIMUM


def profile_r_d(law: dict, n, d, u, loss, points: int = 41) -> list[dict]:
    """The stage-2 objective minimised over R_N* at each of `points` values of R_D* (log-spaced over R_BOUNDS):
    where the objective is flat, or has two valleys, the profile shows it."""
    _, objective = _stage2_objective(law, *(np.asarray(v, float) for v in (n, d, u, loss)))
    log_r_n = np.linspace(*LOG_R_BOUNDS, 121)
    out = []
    for log_r_d in np.linspace(*LOG_R_BOUNDS, points):
        values = [objective(np.array([log_r_d, r])) for r in log_r_n]
        i = int(np.argmin(values))
        out.append({"R_D_star": float(np.exp(log_r_d)), "objective": values[i], "R_N_star": float(np.exp(log_r_n[i]))})
    return out


def _base_law(n, d, loss, tie_exponents: bool, start: dict | None) -> dict:
    """Stage 1 (from `start` alone when given); a law without both terms is refused: U_N, and so R_N*, need both."""
    grid = None
    if start:
        grid = {k: [np.log(start[K])] for k, K in (("a", "A"), ("b", "B"), ("e", "E"))}
        grid.update(alpha=[start["alpha"]], beta=[start["beta"]])
    base = fit_parametric(n, d, loss, grid=grid, starts=1 if start else LBFGS_STARTS, tie_exponents=tie_exponents)
    terms = [base[k] for k in ("A", "B", "alpha", "beta")]
    if base["degenerate"] or not np.isfinite(terms).all() or min(base["alpha"], base["beta"]) < 1e-3 or min(terms) <= 0:
        raise ValueError(base["degenerate"] or "the fitted base law has no N or no D term (exponent ~0)")
    return base


def _fit_once(runs: tuple, single: np.ndarray, given: dict | None, tie: bool, start: dict | None = None) -> dict:
    n, d, u, loss = runs
    base = given or _base_law(n[single], d[single], loss[single], tie, start)
    return fit_data_constrained(base, n, d, u, loss, start=start)


def _bootstrap(runs, single, given, tie, law: dict, draws: int, seed: int) -> tuple[list[dict], Counter]:
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(single), np.flatnonzero(~single)]
    laws, failed = [], Counter()
    for _ in range(draws):
        pick = np.concatenate([rng.choice(g, g.size) for g in groups])
        try:
            laws.append(_fit_once(tuple(v[pick] for v in runs), single[pick], given, tie, start=law))
        except ValueError as err:  # e.g. a resample with too few distinct single-epoch points for the base law
            failed[str(err)] += 1
    return laws, failed


def r_interval(law: dict, laws: list[dict], key: str) -> dict:
    lo, hi = ci95([b[key] for b in laws]) if laws else (float("nan"), float("nan"))
    at_bound = lo <= R_BOUNDS[0] * 1.01 or hi >= R_BOUNDS[1] / 1.01
    span = hi / lo if laws else float("inf")
    return {
        "value": law[key],
        "ci95": [lo, hi],
        "span": span,
        "identified": bool(not at_bound and span < IDENTIFIED_SPAN),
    }


def fit_two_stage(n, d, u, loss, single=None, base_law: dict | None = None, tie_exponents=False, bootstrap=200, seed=0):
    """Both stages with intervals. `single`: the runs of the base law (default D ≤ U); `base_law`: frozen instead."""
    runs = tuple(np.asarray(v, float) for v in (n, d, u, loss))
    if (runs[2] <= 0).any() or not np.isfinite(runs[2]).all():
        raise ValueError("data-constrained fit: unique tokens U must be positive and finite")
    single = runs[1] <= runs[2] if single is None else np.asarray(single, bool)
    if (~single).sum() < 2:
        raise ValueError(f"fewer than 2 runs repeat their data (D > U), {int((~single).sum())}: no R* to fit")
    try:
        law = _fit_once(runs, single, base_law, tie_exponents)
    except ValueError as err:
        where = "the given base law" if base_law else f"base law on the {int(single.sum())} single-epoch runs (D <= U)"
        raise ValueError(f"{where}: {err}") from None
    laws, failed = _bootstrap(runs, single, base_law, tie_exponents, law, bootstrap, seed)
    out = {"law": law, "starts": law.pop("starts"), "runs": len(runs[0]), "single_epoch_runs": int(single.sum())}
    out["base"] = "given (frozen)" if base_law else ("fitted, α = β" if tie_exponents else "fitted")
    # the law discounts parameters beyond U_N(U_D) even in a run that sees its data once: such runs bias the base law
    oversized = single & (runs[0] > n_for_data(law, np.minimum(runs[1], runs[2])) * (1 + 1e-9))
    out["oversized_base_runs"] = int(oversized.sum())
    out["bootstrap"] = {"draws": bootstrap, "laws": len(laws), "failed": sum(failed.values()), "why": dict(failed)}
    out.update({key: r_interval(law, laws, key) for key in ("R_D_star", "R_N_star")})
    if base_law is None and laws:
        base_ci = {k: ci95([b[k] for b in laws]) for k in LAW_KEYS}
        out["base_ci95"], out["base_identified"] = base_ci, identified({**law, "ci95": base_ci})
    out["profile_R_D_star"] = profile_r_d(law, *runs)
    return out


def constrained_optimum(law: dict, flops: float, unique_tokens: float) -> tuple[float, float]:
    """(N, D) minimising the data-constrained loss at C = 6·N·D with U unique tokens: a grid three decades either
    side of the unconstrained optimum, refined between the grid's neighbours of its minimum."""
    n_free = float(compute_optimal(law, flops)[0])
    log_n = np.linspace(np.log(n_free) - 7, np.log(n_free) + 7, 1401)

    def loss(x):
        n = np.exp(x)
        return predict_data_constrained(law, n, flops / (6 * n), unique_tokens)

    i = int(np.argmin(loss(log_n)))
    lo, hi = log_n[max(i - 1, 0)], log_n[min(i + 1, log_n.size - 1)]
    best = minimize_scalar(lambda x: float(loss(x)), bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    n = float(np.exp(best.x))
    return n, flops / (6 * n)


def plan_data_limited(law: dict, flops: float, unique_tokens: float) -> dict:
    """The compute-optimal N and D at C with U unique tokens, the epochs D/U and the loss, beside the optimum with
    unlimited data (the base law's closed form) and what the limit costs in loss."""
    if not (np.isfinite(flops) and flops > 0 and np.isfinite(unique_tokens) and unique_tokens > 0):
        raise ValueError(f"flops {flops:g} and unique tokens {unique_tokens:g} must be positive and finite")
    n, d = constrained_optimum(law, flops, unique_tokens)
    n_free, d_free = (float(v) for v in compute_optimal(law, flops))
    loss = float(predict_data_constrained(law, n, d, unique_tokens))
    free = {"n_opt": n_free, "d_opt": d_free, "loss": float(predict(law, n_free, d_free))}
    out = {"flops": float(flops), "unique_tokens": float(unique_tokens), "n_opt": n, "d_opt": d, "loss": loss}
    return {**out, "epochs": d / unique_tokens, "unlimited": free, "loss_penalty": loss - free["loss"]}
