"""Adaptive rounds of a study (study key `adapt`): after each round, fit the runs so far and plan the next round's
points (analysis/adaptive.py decides; this module reads runs, writes the plan and records it).

In the workflow each round's plan is a Snakemake checkpoint (rules/study.smk, plan_round): round k's plan reads the
runs of the study's grid and of rounds 1..k−1, and names round k's points, or says why the study stops. A plan is
written once, atomically: re-running the workflow after a kill re-plans nothing already decided and retrains no
finished run (the points of a written plan are ordinary sweep points). The study's fit records every round's plan
with its sha256; `audit` prints figure → fit → round k → runs and checks each plan against that hash.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..io import atomic_outputs, sha256_file, write_json
from ..sweep_point import SweepPoint
from .extrapolate import read_plan
from .step_files import StepInputs, Tracking
from .sweeps import budget_points

ROUND_PLAN = "rounds/{round}/plan.json"  # under the study's folder; rules/common.smk names it from here


def settings(study: dict):
    """The study's `adapt` block as planner settings (analysis/adaptive.Settings); ValueError when there is none."""
    from ..analysis.adaptive import Settings

    if "adapt" not in study:
        raise ValueError("config key adapt: the study has no adaptive rounds")
    return Settings.of(study["adapt"])


def read_round(path: str | Path) -> dict:
    """A round's plan as the workflow reads it: its point ids are safe run-folder names (extrapolate.read_plan)."""
    plan = read_plan(path)
    if not isinstance(plan.get("stop"), (str, type(None))):
        raise ValueError(f"{path}: key stop is neither a reason nor null")
    return plan


def _observed(table, runs: list[dict], objectives: list[str], compute: str, bootstrap: int, seed: int) -> dict:
    """{objective: (planner runs, IsoFLOP fit or profiles with the error)} of the runs so far."""
    from ..analysis import isoflop
    from ..analysis.adaptive import Run
    from ..analysis.noise import final_loss

    out = {}
    for o in objectives:
        plain = [r["sweep_point"] for _, r in isoflop_runs(runs, o)]
        if not plain:  # the planner notes it (no IsoFLOP runs to plan from)
            out[o] = ([], {})
            continue
        mine = table.where(np.isin(table["run"], plain))
        try:
            fit = isoflop.fit(mine, f"round-{o}", bootstrap, seed, compute=compute)
        except ValueError as err:
            fit = {"error": str(err), **isoflop.profiles(mine, f"round-{o}", compute=compute)}
        out[o] = ([Run(p.flops, float(r["n"]), p.seed, final_loss(r)) for p, r in isoflop_runs(runs, o)], fit)
    return out


def measured_rate(runs: list[tuple[float, float, str | Path]]) -> dict:
    """FLOPs and training seconds per size of (budget, size, run folder) triples whose timing.json exists, each file
    with its sha256, and the (budget, size) of those without one: what a cap in hours is charged at. A resumed run's
    timing.json counts its last process only, so its size's rate reads high."""
    from ..training.run_clock import TIMING_FILE

    out: dict = {"flops": 0.0, "seconds": 0.0, "sizes": {}, "untimed": [], "timing_files": {}}
    for c, n, run_dir in runs:
        timing = Path(run_dir) / TIMING_FILE
        if not timing.is_file():
            out["untimed"].append([c, n])
            continue
        seconds = float(json.loads(timing.read_text())["total_seconds"])
        size = out["sizes"].setdefault(f"{n:g}", {"n": n, "flops": 0.0, "seconds": 0.0})
        size["flops"], size["seconds"] = size["flops"] + c, size["seconds"] + seconds
        out["flops"], out["seconds"] = out["flops"] + c, out["seconds"] + seconds
        out["timing_files"][str(timing)] = sha256_file(timing)
    return out


def _with_rate(s, runs: list[dict], objectives: list[str]) -> tuple:
    """(planner settings with the FLOP rate each size of the objectives' IsoFLOP runs measured and the training
    seconds spent, what they rest on), where the study caps hours; else (s, None). A run without a timing.json is
    charged at its size's rate."""
    if not math.isfinite(s.cap_hours):
        return s, None
    rate = measured_rate([(p.flops, float(r["n"]), r["run_dir"]) for o in objectives for p, r in isoflop_runs(runs, o)])
    rates = tuple((v["n"], v["flops"] / v["seconds"]) for v in rate["sizes"].values() if v["seconds"] > 0)
    if not rates:
        raise ValueError("config key adapt.cap_hours: no run has a timing.json to measure a FLOP rate from")
    s = replace(s, rates=rates)
    return replace(s, spent_seconds=rate["seconds"] + sum(c / s.rate_at(n) for c, n in rate["untimed"])), rate


def isoflop_runs(runs: list[dict], objective: str) -> list[tuple[SweepPoint, dict]]:
    """(point, run) of the objective's plain IsoFLOP runs: a FLOP budget and no other axis (mask ratio, data variant,
    unique subset, transfer), which other study kinds add to the same grid."""
    points = [(SweepPoint.of(r), r) for r in runs if r["objective"] == objective]
    return [(p, r) for p, r in points if p.flops and p == SweepPoint(objective, p.size, p.seed, flops=p.flops)]


BATCHES = (None, 16, 8, 4, 2, 1)  # batch sizes tried, in turn, for a planned run the recipe's cannot train


def _why_untrainable(overrides: list[str], manifest: str | Path) -> str | None:
    """Why training would refuse this point (e.g. its steps meet no whole validation schedule within 1% of the
    budget), or None: the same checks the train step makes before it trains."""
    from ..config_schema import ConfigError
    from ..training.plan import make_plan
    from ..training.train import compose_config

    try:
        make_plan(compose_config([*overrides, "run.dir=unused", f"data.manifest={manifest}"]))
    except ConfigError as err:
        return str(err)
    return None


def _points(decided: dict, study: dict, known: set[str], manifest) -> dict[str, list[str]]:
    """The decisions' runs as trainable sweep points: a run whose recipe batch meets no whole schedule within 1%
    of its budget gets the largest of BATCHES that does (as the smoke study's point_overrides do by hand), or is
    left out with the reason (in decided["notes"])."""
    points = {}
    for d in decided["decisions"]:
        for run in d["runs"]:
            ((pid, overrides),) = budget_points(study, d["objective"], [run["n"]], d["c"], [run["seed"]]).items()
            for batch in BATCHES:
                tried = overrides + ([f"optim.batch_sequences={batch}"] if batch else [])
                why = _why_untrainable(tried, manifest)
                if why is None:
                    break
            if why is None and pid not in known:
                points[pid] = tried
            else:
                why = why or "trained already"
                decided["notes"].append(f"{d['objective']} N={run['n']:.3g} at {d['c']:.0e} left out: {why}")
    return points


def model_sizes(study: dict):
    """size asked for -> the N of the model it trains (model/sizes.py), at the study's context and aspect."""
    from ..model.sizes import exact_non_embedding, shape_for
    from ..training.train import compose_config

    model = compose_config([*study["overrides"], "run.dir=unused"]).model

    def exact(n: float) -> int:
        return exact_non_embedding(shape_for(float(n), int(model.context), aspect=float(model.aspect)))

    def snap(n: float) -> float:
        """A planned run asks for the N it will train (model.target_params = N), so only an N that maps back to
        itself is a size: 632 (3 layers of width 4) is asked for as 632 but trains 816, and is none."""
        try:
            m = exact(n)
            return float(m) if exact(m) == m else 0.0
        except ValueError:  # below the smallest model: no size (the planner leaves it out)
            return 0.0

    return snap


def _summary(fit: dict) -> dict:
    """What a round's plan keeps of its fit: the N_opt law with its interval, and each budget's minimum."""
    law = fit.get("n_opt", {})
    keep = ("c", "n_opt", "status", "sizes")
    return {
        "n_opt": {k: law.get(k) for k in ("coef", "exponent", "ci95")} if law else None,
        "error": fit.get("error"),
        "budgets": [{k: b.get(k) for k in keep} for b in fit.get("budgets", [])],
    }


def plan_round(
    round_no: int, run_dirs, earlier: list[str], out_json, inputs: StepInputs, bootstrap: int = 1000, seed: int = 0
) -> dict:
    """Round `round_no`'s plan.json from the runs so far (the grid's and rounds 1..round_no−1's, `earlier` their
    plans), recorded as an MLflow run of the study's analysis experiment (`inputs`: the study file, the data
    manifest its runs train on, where the MLflow run goes)."""
    from ..analysis.adaptive import plan
    from .collect import collect
    from .study_file import load_study

    study_file, manifest = inputs.study_file, inputs.manifest
    study = load_study(study_file).spec
    name = Path(study_file).stem
    table, runs = collect(run_dirs, name)
    objectives = study["adapt"].get("objectives") or sorted({r["objective"] for r in runs})
    observed = _observed(table, runs, objectives, study.get("compute", "paper"), bootstrap, seed)
    planner, rate = _with_rate(settings(study), runs, objectives)
    decided = plan(observed, planner, round_no, model_sizes(study))
    known = {r["sweep_point"] for r in runs}
    points = {} if decided["stop"] else _points(decided, study, known, manifest)
    if not decided["stop"] and not points:
        decided["stop"] = "nothing trainable: " + "; ".join(decided["notes"])
    result = {
        "round": round_no,
        "study": name,
        "points": points,
        **{k: v for k, v in decided.items() if k != "round"},
        "fits": {o: _summary(fit) for o, (_, fit) in observed.items()},
        "bootstrap": bootstrap,
        "seed": seed,
        "input_runs": [{"sweep_point": r["sweep_point"], "run_id": r["run_id"], "files": r["files"]} for r in runs],
        "earlier_rounds": [{"path": str(Path(p).resolve()), "sha256": sha256_file(p)} for p in earlier],
        **({"measured_rate": rate} if rate else {}),
    }
    result["run_id"] = _log_round(result, inputs.tracking)
    with atomic_outputs(out_json) as (tmp,):
        write_json(tmp, result)
    return result


def _log_round(plan: dict, tracking: Tracking) -> str:
    """The round as an MLflow run: its widths, spent compute, planned runs and why it stops (tags)."""
    import mlflow

    from ..provenance.lineage import start_run
    from ..tracking import absolute_uri

    tags = {"stage": "round", "study": plan["study"], "round": str(plan["round"]), "stop": plan["stop"] or ""}
    with start_run(absolute_uri(tracking.uri), tracking.experiment, f"round {plan['round']}", tags) as run:
        mlflow.log_metrics({"spent_flops": plan["spent"], "planned_runs": len(plan["points"])})
        if "spent_hours" in plan:  # a cap in hours: the training hours the runs so far took
            mlflow.log_metric("spent_hours", plan["spent_hours"])
        for o, s in plan["objectives"].items():
            if s["width"] is not None:
                mlflow.log_metric(f"{o}_n_opt_interval_width", s["width"])
        mlflow.log_dict({k: plan[k] for k in ("decisions", "left_out", "notes", "points")}, "plan.json")
        return run.info.run_id


def rounds_record(plans: list[str | Path]) -> list[dict]:
    """What the study's fit records of its rounds (fits JSON key rounds): each plan by path and sha256."""
    out = []
    for path in plans:
        p = read_round(path)
        out.append(
            {
                "round": p["round"],
                "plan": str(Path(path).resolve()),
                "sha256": sha256_file(path),
                "run_id": p.get("run_id"),
                "points": sorted(p["points"]),
                "stop": p["stop"],
            }
        )
    return out


def print_plan(plan: dict, out=sys.stdout) -> None:
    for o, s in plan["objectives"].items():
        width = "no law" if s["width"] is None else f"interval width {s['width']:.3f}"
        print(f"{o}: {width}{' (at target)' if s['at_target'] else ''}", file=out)
    for d in plan["decisions"]:
        print(f"{d['objective']} {d['kind']} at {d['c']:.0e}: {len(d['runs'])} run(s); {d['why']}", file=out)
    print(f"round {plan['round']}: {len(plan['points'])} points; stop: {plan['stop'] or 'no'}", file=out)
