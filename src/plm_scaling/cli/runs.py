"""`plm-scaling` commands: Training runs and the workflow's study steps: train, evaluate, mlflow-init, study-fit, study-figure, audit."""

from __future__ import annotations

import argparse

from ..study.figure import FIGURES
from .common import bootstrap_args


def _train(a: argparse.Namespace) -> None:
    from ..training.train import train

    result = train(a.overrides, restart_if_changed=a.restart_if_changed)
    if result:
        print(f"{result['sweep_point']}: N = {result['n']:,}, {result['tokens']:,} tokens, "
              f"C = {result['flops']:.3g} FLOPs, final validation loss {result['final_val_loss']:.4f}")


def _evaluate(a: argparse.Namespace) -> None:
    from ..training.evaluate import evaluate

    r = evaluate(a.run_dir)
    print(f"{r['sweep_point']}: valid {r['valid_loss']:.4f}, test {r['test_loss']:.4f}")


def _mlflow_init(a: argparse.Namespace) -> None:
    from ..tracking import init_store

    info = init_store(a.tracking_uri, a.experiment, a.marker)
    print(f"MLflow store {info['tracking_uri']}: experiment {info['experiment']} ({info['experiment_id']})")


def _study_fit(a: argparse.Namespace) -> None:
    from pathlib import Path

    from ..study.fit import exponent_table, fit_study

    result = fit_study(a.study, [Path(m).parent for m in a.runs], a.study_file, a.manifest, a.tracking_uri, a.experiment, a.out_json,
                       a.out_table, bootstrap=a.bootstrap, seed=a.seed)  # fmt: skip
    for w in result["warnings"]:
        print(f"warning: {w}")
    for row in exponent_table(result):
        print(" ".join(row))


def _study_figure(a: argparse.Namespace) -> None:
    from ..study.figure import study_figure

    side = study_figure(a.name, a.fits, a.out)
    print(f"{a.out}: sha256 {side['sha256']}, run {side['producing_run_id']}")


def _audit(a: argparse.Namespace) -> int:
    from ..study.audit import audit

    lines, problems = audit(a.figure)
    print("\n".join(lines))
    for p in problems:
        print(f"FAIL: {p}")
    print("OK: figure, runs, code, config and data agree" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def register(sub) -> None:
    """Add this group's sub-commands to the top-level sub-parsers."""
    tr = sub.add_parser("train", help="train one sweep point; Hydra overrides, e.g. objective=mlm budget.flops=1e12")
    tr.add_argument("overrides", nargs="*")
    tr.add_argument("--restart-if-changed", action="store_true",
                    help="discard a run folder whose saved config differs (the workflow uses this)")
    tr.set_defaults(func=_train)

    ev = sub.add_parser("evaluate", help="loss of a finished run on the full valid and test splits")
    ev.add_argument("run_dir")
    ev.set_defaults(func=_evaluate)

    mi = sub.add_parser("mlflow-init", help="create the MLflow store and experiment once, before parallel jobs")
    mi.add_argument("tracking_uri")
    mi.add_argument("experiment")
    mi.add_argument("marker", help="JSON file written when done (a Snakemake output)")
    mi.set_defaults(func=_mlflow_init)

    sf = sub.add_parser("study-fit", help="collect a study's runs, fit its laws, as an MLflow run")
    sf.add_argument("study")
    sf.add_argument("out_json")
    sf.add_argument("out_table")
    sf.add_argument("--runs", required=True, nargs="+", help="metrics.json of each of the study's runs")
    sf.add_argument("--study-file", required=True)
    sf.add_argument("--manifest", required=True, help="data manifest the runs trained on")
    sf.add_argument("--tracking-uri", required=True)
    sf.add_argument("--experiment", required=True)
    bootstrap_args(sf, 1000)
    sf.set_defaults(func=_study_fit)

    sg = sub.add_parser("study-figure", help="draw a study figure with its provenance, as an MLflow run")
    sg.add_argument("name", choices=FIGURES)
    sg.add_argument("fits")
    sg.add_argument("out")
    sg.set_defaults(func=_study_figure)

    au = sub.add_parser("audit", help="lineage of a figure; exit 1 when bytes, runs, code, config or data changed")
    au.add_argument("figure")
    au.set_defaults(func=_audit)
