"""`plm-scaling study ...`: the workflow's study steps: the MLflow store, the fit of a study's runs, its figures."""

from __future__ import annotations

import argparse

from ..names import STUDY_FIGURES
from .common import bootstrap_args, command, count, group, tracking_args


def _init(a: argparse.Namespace) -> None:
    from ..tracking import init_store

    info = init_store(a.tracking_uri, a.experiment, a.marker)
    print(f"MLflow store {info['tracking_uri']}: experiment {info['experiment']} ({info['experiment_id']})")


def _step_files(a: argparse.Namespace):
    """(inputs, outputs) of an analysis step (fit, check) as _analysis_args names them."""
    from ..study.step_files import FitOutputs, StepInputs

    inputs = StepInputs.of(a.study_file, a.manifest, a.tracking_uri, a.experiment)
    return inputs, FitOutputs.of(a.out_json, a.out_table, a.out_summary)


def _fit(a: argparse.Namespace) -> None:
    from pathlib import Path

    from ..study.fit import exponent_table, fit_study

    run_dirs = [Path(m).parent for m in a.runs]
    settings = {"bootstrap": a.bootstrap, "seed": a.seed, "paper_table": a.paper_table, "rounds": a.rounds}
    result = fit_study(a.study, run_dirs, *_step_files(a), **settings)
    for w in result["warnings"]:
        print(f"warning: {w}")
    for row in exponent_table(result):
        print(" ".join(row))


def _plan_round(a: argparse.Namespace) -> None:
    from pathlib import Path

    from ..study.rounds import plan_round, print_plan
    from ..study.step_files import StepInputs

    run_dirs = [Path(m).parent for m in a.runs]
    inputs = StepInputs.of(a.study_file, a.manifest, a.tracking_uri, a.experiment)
    print_plan(plan_round(a.round, run_dirs, a.earlier, a.out, inputs, a.bootstrap, a.seed))


def _plan_check(a: argparse.Namespace) -> None:
    from ..study.extrapolate import plan_check

    result = plan_check(a.fits, a.study_file, a.out)
    for o, p in result["objectives"].items():
        if "error" in p:
            print(f"{o}: {p['error']}")
            continue
        pred = p["prediction"]
        print(f"{o}: at {p['budget']:.3g} FLOPs the fit predicts N_opt {pred['n_opt']:,.0f}; train {p['sizes']}")


def _check(a: argparse.Namespace) -> None:
    from pathlib import Path

    from ..study.extrapolate import check

    result = check(a.study, a.plan, [Path(m).parent for m in a.runs], *_step_files(a))
    for o, f in result["fits"].items():
        e = f["extrapolation"]
        if "error" in e:
            print(f"{o}: {e['error']}")
        else:
            print(f"{o}: best multiple {e['best_multiple']}, predicted size wins: {e['predicted_size_wins']}")


def _figure(a: argparse.Namespace) -> None:
    from ..study.figure import study_figure

    side = study_figure(a.name, a.fits, a.out)
    print(f"{a.out}: sha256 {side['sha256']}, run {side['producing_run_id']}")


def _recipe(a: argparse.Namespace) -> None:
    from ..study.tuning_recipe import write_recipe

    recipe = write_recipe(a.fits, a.out)
    for objective, entry in recipe["objectives"].items():
        law = entry["lr"]
        print(f"{objective}: LR*(N) = {law['coef']:.4g}·N^{law['exponent']:.3f}, beta2 {entry['beta2']}")
    for objective, why in recipe["left_out"].items():
        print(f"{objective}: no recipe ({why})")


def _analysis_args(p, what: str, runs: str, which: str) -> None:
    """The outputs and inputs of an analysis step (fit, check): JSON, loss table, fits table; runs, study, data."""
    p.add_argument("out_json", help=f"{what} JSON to write")
    p.add_argument("out_table", help="loss table CSV to write")
    p.add_argument("out_summary", help="fits table CSV to write (every number with its interval)")
    p.add_argument("--runs", required=True, nargs=runs, help=f"metrics.json of {which}")
    p.add_argument("--study-file", required=True, help="the study's YAML file")
    p.add_argument("--manifest", required=True, help="data manifest the runs trained on")
    tracking_args(p, "MLflow experiment of the study's analysis")


def _summary(a: argparse.Namespace) -> None:
    from pathlib import Path

    from ..study.summary import write_summary

    if (a.study is None) != (a.fits is None):
        raise ValueError("--study and --fits go together (the study's name and its fit)")
    paths = [None if p is None else Path(p) for p in (a.fits, a.table2)]
    write_summary(Path(a.out), a.study, *paths)


def register(sub) -> None:
    """`study` and its steps."""
    steps = group(sub, "study", "a study's steps, as the workflow runs them")

    ini = command(steps, "init", "create the MLflow store and experiment once, before parallel jobs")
    ini.add_argument("tracking_uri", help="MLflow tracking URI (sqlite:///..., http://...)")
    ini.add_argument("experiment", help="experiment name")
    ini.add_argument("marker", help="JSON file written when done (a Snakemake output)")
    ini.set_defaults(func=_init)

    fi = command(steps, "fit", "collect a study's runs, fit its laws, as an MLflow run")
    fi.add_argument("study", help="the study's name")
    _analysis_args(fi, "fits", "+", "each of the study's runs")
    bootstrap_args(fi, 1000)
    fi.add_argument(
        "--paper-table",
        help="the authors' released logs as `paper ingest` writes them: a transfer study fits them beside its own "
        "runs (default: none)",
    )
    fi.add_argument("--rounds", nargs="*", default=[], help="plan.json of each adaptive round (study key adapt)")
    fi.set_defaults(func=_fit)

    rc = command(steps, "recipe", "a tuning study's recipe (LR*(N), beta2) from its fit, for study key recipe")
    rc.add_argument("fits", help="the tuning study's fits.json")
    rc.add_argument("out", help="recipe JSON to write")
    rc.set_defaults(func=_recipe)
    _register_checkpoints(steps)
    _register_outputs(steps)


def _register_checkpoints(steps) -> None:
    """The steps that plan runs from a fit: adaptive rounds and the extrapolation check."""
    pr = command(steps, "plan-round", "fit the runs so far and plan an adaptive round's runs (study key adapt)")
    pr.add_argument("study_file", help="the study's YAML file")
    pr.add_argument("round", type=count, help="the round to plan (1, 2, ...)")
    pr.add_argument("out", help="plan JSON to write (decisions, their reasons and points, or why the study stops)")
    pr.add_argument("--runs", required=True, nargs="+", help="metrics.json of every run so far")
    pr.add_argument("--earlier", nargs="*", default=[], help="plan.json of rounds 1..round-1")
    pr.add_argument("--manifest", required=True, help="data manifest the runs train on (planned runs are checked)")
    tracking_args(pr, "MLflow experiment of the study's analysis")
    bootstrap_args(pr, 1000)
    pr.set_defaults(func=_plan_round)

    pc = command(steps, "plan-check", "plan the extrapolation check's runs from a study's fit (study key extrapolate)")
    pc.add_argument("fits", help="`study fit` output")
    pc.add_argument("study_file", help="the study's YAML file")
    pc.add_argument("out", help="plan JSON to write (budget, prediction, points and their overrides)")
    pc.set_defaults(func=_plan_check)


def _register_outputs(steps) -> None:
    """The check, the figures and the report's landing page."""
    ch = command(steps, "check", "measured against predicted at the check budget, as an MLflow run")
    ch.add_argument("study", help="the study's name")
    ch.add_argument("plan", help="`study plan-check` output")
    _analysis_args(ch, "check (the shape of a fits JSON)", "*", "each planned run (none: nothing planned)")
    ch.set_defaults(func=_check)

    fg = command(steps, "figure", "draw a study figure with its provenance, as an MLflow run")
    fg.add_argument("name", choices=STUDY_FIGURES, help="which figure")
    fg.add_argument("fits", help="`study fit` output (`study check` output for the extrapolation figure)")
    fg.add_argument("out", help="PNG to write (the SVG and provenance sidecar land beside it)")
    fg.set_defaults(func=_figure)

    su = command(steps, "summary", "the report's landing page (reStructuredText): headline exponents and tables")
    su.add_argument("out", help="RST file to write")
    su.add_argument("--study", help="the study's name")
    su.add_argument("--fits", help="`study fit` output (fits.json)")
    su.add_argument("--table2", help="the paper stage's table2.csv")
    su.set_defaults(func=_summary)
