"""`plm-scaling fit ...` and `plm-scaling plan`: fits of released or tidy logs and of tables of runs, and the
compute-optimal planner."""

from __future__ import annotations

import argparse
import sys

from ..analysis.resample import METHODS
from . import data_limit
from .common import bootstrap_args, command, group, print_json


def _fit_logs(a: argparse.Namespace) -> None:
    from threadpoolctl import threadpool_limits

    from ..analysis.fits import fit_logs, without_bulk
    from ..analysis.logs import read_table

    with threadpool_limits(1):  # see fits.fit_all
        result = fit_logs(read_table(a.logs), a.method, a.bootstrap, a.seed, a.floor, a.resample)
    if a.json:
        print_json(without_bulk(result))
        return
    for objective, laws in result.items():
        for name in ("n_opt", "d_opt", "loss"):
            ci = laws[name].get("ci95")
            extra = f"  95% CI [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
            print(f"{objective} {name:<6} = {laws[name]['coef']:.4g} · x^{laws[name]['exponent']:.4f}{extra}")
        print(f"{objective} {laws['n_budgets']} budgets, {laws['n_runs']} runs")


def _fit_parametric(a: argparse.Namespace) -> None:
    from ..analysis.fits import read_points_csv
    from ..analysis.parametric import fit_parametric, fit_seed, identified

    data_limit.check_combination(a)
    if a.u_col:
        return data_limit.fit_data_constrained(a)
    pts = read_points_csv(a.csv, a.n_col, a.d_col, a.c_col, a.loss_col, a.drop_highest)
    if a.method == "seed":
        law = fit_seed(pts["n"], pts["d"], pts["loss"], p0=_p0(a.p0))
        if "error" in law:
            raise ValueError(law["error"])
    else:
        law = fit_parametric(
            pts["n"], pts["d"], pts["loss"], bootstrap=a.bootstrap, seed=a.seed, tie_exponents=a.tie_exponents
        )
    if a.json:
        print_json(law)
        return
    how = law["status"]["message"] if "status" in law else f"curve_fit trf from p0 {law['p0']}"
    print(
        f"L = {law['E']:.4f} + {law['A']:.4g}/N^{law['alpha']:.4f} + {law['B']:.4g}/D^{law['beta']:.4f}"
        f"  ({law['n_points']} points, {how})"
    )
    if not identified(law):
        why = law.get("degenerate") or "a parameter's uncertainty is as large as its value, or E <= 0"
        print(f"plm-scaling: warning: the law is not identified ({why})", file=sys.stderr)


def _p0(text: str | None) -> dict | None:
    """--p0 "E,A,B,alpha,beta" -> the start of the seed's fit."""
    from ..analysis.parametric import LAW_KEYS

    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != len(LAW_KEYS):
        raise ValueError(f"--p0: give {len(LAW_KEYS)} numbers E,A,B,alpha,beta, got {text!r}")
    return dict(zip(LAW_KEYS, values))


def _plan(a: argparse.Namespace) -> None:
    from ..analysis.allocation import load_laws, plan

    if a.unique_tokens is not None:
        return data_limit.plan_data_limited(a)
    laws, source = load_laws(a.objective, a.law, a.logs)
    result = {**plan(laws, flops=a.flops, params=a.params, tokens=a.tokens), "law": source}
    if a.json:
        print_json(result)
        return
    print(f"{a.objective} at C = {result['flops']:.3g} FLOPs ({source}):")
    for key, label, fmt, unit in PLAN_ROWS:
        if result[key] is None:
            print(f"  {label} = (no loss law)")
            continue
        ci = result["ci95"][key]
        interval = (
            f"  (95% CI {ci[0]:{fmt}} – {ci[1]:{fmt}})" if ci else "  (no interval: this law carries no uncertainty)"
        )
        print(f"  {label} = {result[key]:{fmt}} {unit}{interval}")


PLAN_ROWS = (
    ("n_opt", "N_opt", ".3g", "parameters (non-embedding)"),
    ("d_opt", "D_opt", ".3g", "tokens"),
    ("loss", "loss ", ".4f", "nats/token"),
)


def register(sub) -> None:
    """`fit` and its steps, and `plan`."""
    steps = group(sub, "fit", "scaling laws of released or tidy logs, or of any table of runs")
    fl = command(steps, "logs", "IsoFLOP power laws N_opt(C), D_opt(C), L(C) of released or tidy logs")
    fl.add_argument("logs", help="folder of released logs, or a tidy table CSV from `paper ingest`")
    fl.add_argument("--method", choices=("notebook", "interp"), default="notebook", help="the authors' or ours")
    bootstrap_args(fl, 1000)
    fl.add_argument("--floor", action="store_true", help="interp: fit L(C) with a saturation floor E")
    fl.add_argument(
        "--resample", choices=METHODS, default=METHODS[0], help="interp: how a bootstrap resample is made (residual)"
    )
    fl.add_argument("--json", action="store_true", help="print JSON instead of text")
    fl.set_defaults(func=_fit_logs)

    fp = command(steps, "parametric", "fit L(N, D) = E + A/N^alpha + B/D^beta to a table of runs")
    fp.add_argument("csv", help="a CSV with one row per run")
    fp.add_argument("--n-col", required=True, help="column of N (non-embedding parameters)")
    x = fp.add_mutually_exclusive_group(required=True)
    x.add_argument("--d-col", help="column of D (tokens)")
    x.add_argument("--c-col", help="compute column; D = C / (6 N)")
    fp.add_argument("--loss-col", required=True, help="column of the loss (nats)")
    fp.add_argument("--drop-highest", type=int, default=0, help="leave out the K runs of highest loss")
    fp.add_argument(
        "--method",
        choices=("epoch", "seed"),
        default="epoch",
        help="epoch: Huber in log space, L-BFGS from a grid, bootstrap intervals; seed: the authors' curve_fit "
        "(trf, maxfev 12000) from one start",
    )
    fp.add_argument("--p0", help="start of the seed method: E,A,B,alpha,beta (default 1.5,100,100,0.3,0.3)")
    data_limit.add_fit_args(fp)
    bootstrap_args(fp, 200)
    fp.add_argument("--json", action="store_true", help="print JSON instead of text")
    fp.set_defaults(func=_fit_parametric)

    pl = command(sub, "plan", "compute-optimal N, D and loss for a budget (or for a given N or D)")
    pl.add_argument("--objective", choices=("clm", "mlm"), required=True, help="causal or masked LM")
    what = pl.add_mutually_exclusive_group(required=True)
    what.add_argument("--flops", type=float, help="C: the compute budget")
    what.add_argument("--params", type=float, help="N: plan the budget whose optimum is this size")
    what.add_argument("--tokens", type=float, help="D: plan the budget whose optimum trains on this many tokens")
    pl.add_argument(
        "--law", help="laws JSON: `fit logs --json` output, or a fits.json of the workflow (a study's or the paper's)"
    )
    pl.add_argument(
        "--unique-tokens",
        type=float,
        help="U: plan under this limit on unique data, with the data-constrained law in --law (`fit parametric "
        "--u-col --json`, or a repeated-data study's fits.json)",
    )
    pl.add_argument(
        "--logs",
        help="fit the notebook law to these released logs (else $PLM_PAPER_LOGS); with neither, the law "
        "the authors released",
    )
    pl.add_argument("--json", action="store_true", help="print JSON instead of text")
    pl.set_defaults(func=_plan)
