"""`fit parametric --u-col` and `plan --unique-tokens`: the data-constrained law on a table of runs, and plans
under a limit on unique data. The arguments are registered with `fit parametric` and `plan` (cli/analysis.py)."""

from __future__ import annotations

import argparse

from .common import print_json


def add_fit_args(fp: argparse.ArgumentParser) -> None:
    fp.add_argument(
        "--u-col",
        help="column of U, the unique tokens each run drew its D tokens from: fit the data-constrained law (base "
        "law on the runs with D <= U, then R_D* and R_N*)",
    )
    fp.add_argument("--base-col", help="with --u-col: column that is 1 for the base law's runs, 0 otherwise")
    fp.add_argument("--base-law", help="with --u-col: JSON of a base law (E, A, B, alpha, beta), frozen")
    fp.add_argument("--tie-exponents", action="store_true", help="fit the base law with beta = alpha")


def check_combination(a: argparse.Namespace) -> None:
    if not a.u_col and (a.base_col or a.base_law):
        raise ValueError(f"{'--base-col' if a.base_col else '--base-law'} needs --u-col (the data-constrained law)")
    if a.base_law and (a.base_col or a.tie_exponents):
        raise ValueError("--base-law freezes the base law: --base-col and --tie-exponents fit one, give neither")
    if a.method == "seed" and (a.u_col or a.tie_exponents):
        raise ValueError("--method seed fits the five-parameter law only: no --u-col, no --tie-exponents")


def fit_data_constrained(a: argparse.Namespace) -> None:
    from ..analysis.data_constrained import fit_two_stage
    from ..analysis.fits import read_points_csv
    from ..analysis.law_files import read_law

    extra = {"u": a.u_col, **({"base": a.base_col} if a.base_col else {})}
    pts = read_points_csv(a.csv, a.n_col, a.d_col, a.c_col, a.loss_col, a.drop_highest, extra=extra)
    base, where = read_law(a.base_law) if a.base_law else (None, None)
    single = pts["base"] != 0 if a.base_col else None
    fit = fit_two_stage(
        pts["n"], pts["d"], pts["u"], pts["loss"], single, base, a.tie_exponents, bootstrap=a.bootstrap, seed=a.seed
    )
    fit.update(csv=a.csv, seed=a.seed, base_law_file=a.base_law and f"{a.base_law} ({where})")
    if a.json:
        print_json(fit)
        return
    for line in describe_fit(fit):
        print(line)


def describe_fit(fit: dict) -> list[str]:
    law, boot, starts = fit["law"], fit["bootstrap"], fit["starts"]
    rows = "frozen" if fit["base_law_file"] else f"{fit['single_epoch_runs']} runs with D <= U"
    lines = [
        f"base law ({fit['base']}, {rows}): L = {law['E']:.4f} + {law['A']:.4g}/N^{law['alpha']:.4f} "
        f"+ {law['B']:.4g}/D^{law['beta']:.4f}"
    ]
    for key in ("R_D_star", "R_N_star"):
        r = fit[key]
        verdict = "identified" if r["identified"] else "NOT identified (95% CI spans more than x10 or meets a bound)"
        lines.append(
            f"{key} = {r['value']:.4g}  95% CI [{r['ci95'][0]:.3g}, {r['ci95'][1]:.3g}] (x{r['span']:.3g})  {verdict}"
        )
    if fit["oversized_base_runs"] and not fit["base_law_file"]:
        lines.append(
            f"warning: {fit['oversized_base_runs']} base-law runs are larger than compute-optimal for their data "
            "(N > U_N): the law discounts their parameters, so the base law is biased (choose them with --base-col)"
        )
    failed = "; ".join(f"{k}: {v}" for k, v in boot["why"].items())
    lines.append(
        f"bootstrap: {boot['draws']} resamples, {boot['laws']} gave a law, {boot['failed']} did not"
        + (f" ({failed})" if failed else "")
    )
    minima = ", ".join(f"R_D* {m['R_D_star']:.3g} R_N* {m['R_N_star']:.3g} ({m['starts']})" for m in starts["minima"])
    agree = "agree" if starts["agree"] else f"DISAGREE: {starts['competing']} minima within 1% of the best"
    lines.append(f"starts: {starts['tried']} from a grid {agree}; minima (starts): {minima}")
    return lines


def plan_data_limited(a: argparse.Namespace) -> None:
    from ..analysis.data_constrained import plan_data_limited as plan
    from ..analysis.law_files import read_law

    if not a.law:
        raise ValueError("--unique-tokens needs --law FILE holding a data-constrained law (fit parametric --u-col)")
    if a.flops is None:
        raise ValueError("--unique-tokens plans a budget: give it with --flops")
    law, where = read_law(a.law, a.objective, data_constrained=True)
    result = {**plan(law, a.flops, a.unique_tokens), "law": f"{a.law} (key {where})"}
    if a.json:
        print_json(result)
        return
    free = result["unlimited"]
    print(f"{a.objective} at C = {result['flops']:.3g} FLOPs with U = {result['unique_tokens']:.3g} unique tokens")
    print(f"  (data-constrained law from {result['law']}):")
    print(f"  N_opt = {result['n_opt']:.3g} parameters (non-embedding)")
    print(f"  D_opt = {result['d_opt']:.3g} tokens = {result['epochs']:.3g} epochs of U")
    print(f"  loss  = {result['loss']:.4f} nats/token")
    print(
        f"  with unlimited data: N_opt = {free['n_opt']:.3g}, D_opt = {free['d_opt']:.3g}, loss = {free['loss']:.4f}"
        f" (the data limit costs {result['loss_penalty']:+.4f} nats/token)"
    )
