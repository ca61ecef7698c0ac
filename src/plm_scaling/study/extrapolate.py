"""The extrapolation check of a study (study key `extrapolate`): plan the runs at a larger budget from the fit, then
compare what they measure with what the fit predicted (analysis/extrapolation.py says how).

In the workflow the plan is a Snakemake checkpoint: which points to train depends on the fit, so the DAG is
re-evaluated once the plan exists, and a changed fit re-plans only the points whose size or budget changed (point
ids name both; the training rule takes the plan as an `ancient` input and its overrides as params).
"""

from __future__ import annotations

import math
from pathlib import Path

from ..io import atomic_outputs, read_json, sha256_file, write_json
from ..names import check_name
from .fits_schema import read_fits
from .step_files import FitOutputs, StepInputs
from .sweeps import budget_points

# The workflow reads plans whenever it builds its DAG (rules/common.smk: read_plan): the analysis modules (scipy,
# MLflow) are imported by the functions that need them, so parsing the Snakefile stays fast.


def settings(study: dict) -> dict:
    """The study's `extrapolate` block with its defaults (objectives: every objective the study fits)."""
    from ..analysis.extrapolation import MULTIPLES

    return {"factor": 3.0, "multiples": list(MULTIPLES), "seeds": [0], "law": None, **study["extrapolate"]}


def read_plan(path: str | Path) -> dict:
    """plan.json as the workflow reads it. Its point ids become run folders under the study's runs/, so each must
    be a safe name (names.check_name: an id `../../x` would train a run outside results/), and its overrides a
    list of strings."""
    try:
        plan = read_json(path)
    except ValueError as err:
        raise ValueError(f"{path}: not a JSON file ({err})") from None
    points = plan.get("points") if isinstance(plan, dict) else None
    if not isinstance(points, dict):
        raise ValueError(f"{path}: no object of points (not a `study plan-check` output)")
    for point, overrides in points.items():
        check_name(point, f"{path}: point id")
        if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
            raise ValueError(f"{path}: points.{point}: its overrides are not a list of strings")
    return plan


def _study(study_file: str | Path) -> dict:
    """The study file, validated as the workflow validates it (study_file.load_study: defaults filled,
    extrapolate.factor at most 1000, ...), with an extrapolate block whose numbers are finite."""
    from .study_file import load_study

    study = load_study(study_file).spec
    if "extrapolate" not in study:
        raise ValueError(f"{study_file}: no extrapolate block (study key extrapolate) to plan from")
    ext = settings(study)
    for key, values in (("factor", [ext["factor"]]), ("multiples", ext["multiples"])):
        if not all(math.isfinite(v) for v in values):  # the schema's bounds let nan through
            raise ValueError(f"{study_file}: config key extrapolate.{key}: {values} holds a number that is not finite")
    return study


def _trainable(n: float, overrides: list[str]) -> None:
    """Refuse a planned size that no run of it could train on this machine: its shape's parameters with their
    gradients and AdamW state (training/checks.check_memory), at the least a run needs (one sequence of the
    shortest context; the run's own check at its real batch and context comes when it trains)."""
    from omegaconf import OmegaConf

    from ..model.sizes import shape_for
    from ..training.checks import check_memory

    gpu = {"trainer=gpu", "trainer.lightning.accelerator=gpu", "trainer.lightning.accelerator=cuda"} & set(overrides)
    lightning = {"accelerator": "gpu" if gpu else "cpu", "devices": 1, "strategy": "auto", "precision": "32-true"}
    check_memory(shape_for(float(n), 2), int(n), 1, OmegaConf.create(lightning))


def _check_sizes(planned: dict, objective: str, study_file, overrides: list[str]) -> None:
    """Refuse a plan that no run could follow: sizes and budget that are not positive finite numbers (nan sizes
    would also collapse into one point id), or sizes this machine cannot train."""
    where = f"{study_file}: config key extrapolate"
    values = {"budget": planned["budget"], "predicted N_opt": planned["prediction"]["n_opt"]}
    values.update({f"size at multiple {m}": n for m, n in planned["sizes"].items()})
    for name, value in values.items():
        if not (math.isfinite(value) and value >= 1):
            raise ValueError(f"{where}: the {objective} plan's {name} is {value}, not a positive finite number")
    for n in planned["sizes"].values():
        try:
            _trainable(n, overrides)
        except ValueError as err:
            why = str(err).removeprefix("config key model.target_params: ")
            raise ValueError(
                f"{where}.factor: the planned {objective} size {n:,.0f} cannot be trained: {why}"
            ) from None


def _laws(fits: dict, objective: str, law_file: str | None, fits_json) -> tuple[dict | None, str]:
    """(laws to extrapolate, where from): the study's own IsoFLOP fit, or a laws file (extrapolate.law: any law,
    e.g. one fitted elsewhere, checked on this study's data and scale). A laws file that holds no usable law is
    refused; a fit without one gives (None, why), recorded in the plan as that objective's error."""
    from ..analysis.allocation import check_laws, load_laws

    if law_file:
        return load_laws(objective, law_file)  # checked there, one line naming the file and key
    laws = fits["fits"].get(objective, {}).get("isoflop", {})
    if "n_opt" not in laws:
        return None, f"no N_opt law to extrapolate: {laws.get('error', 'objective not in the study')}"
    try:
        check_laws(laws, f"{fits_json}: key fits.{objective}.isoflop.")
    except ValueError as err:
        return None, f"no usable N_opt law to extrapolate: {err}"
    return laws, f"the study's IsoFLOP fit (run {fits['fit_run_id']})"


def plan_check(fits_json: str | Path, study_file: str | Path, out_json: str | Path) -> dict:
    """plan.json: per objective the check budget, the prediction and the planned points with their overrides (the
    study's overrides included), or why none can be planned (no usable N_opt law)."""
    from ..analysis import extrapolation

    fits, study = read_fits(fits_json), _study(study_file)
    ext, objectives, points = settings(study), {}, {}
    for o in ext.get("objectives") or sorted(fits["fits"]):
        laws, source = _laws(fits, o, ext.get("law"), fits_json)
        if laws is None:
            objectives[o] = {"error": source}
            continue
        budget = extrapolation.check_budget(fits["input_runs"], o, ext["factor"])
        objectives[o] = {**extrapolation.plan_objective(laws, budget, ext["multiples"]), "law_source": source}
        _check_sizes(objectives[o], o, study_file, study["overrides"])
        points.update(budget_points(study, o, list(objectives[o]["sizes"].values()), budget, ext["seeds"]))
    result = {"fits": str(Path(fits_json).resolve()), "fit_run_id": fits["fit_run_id"], "settings": ext}
    result.update(objectives=objectives, points=points)
    with atomic_outputs(out_json) as (tmp,):
        write_json(tmp, result)
    return result


def check(study: str, plan_json, run_dirs, inputs: StepInputs, outputs: FitOutputs) -> dict:
    """The check as an analysis run (its JSON has the fits JSON's shape: `fits[objective]["extrapolation"]`), so
    the figure step and audit treat it as any fit."""
    from .fit import analysis_run

    planned = read_json(plan_json)
    base = read_fits(planned["fits"])
    planned_from = {"fit_run_id": base["fit_run_id"], "plan": str(Path(plan_json).resolve())}
    planned_from |= {"plan_sha256": sha256_file(plan_json), "fits_sha256": sha256_file(planned["fits"])}
    extra = {"planned_from": planned_from, "derivation": {"step": "check"}}
    return analysis_run("check", study, run_dirs, inputs, outputs, check_analysis(planned, base), extra=extra)


def check_analysis(planned: dict, base: dict):
    """`analyse(table, runs)` of the check step: the plan's prediction against its runs (audit calls it again)."""
    from ..analysis import extrapolation

    def analyse(table, runs):
        out = {}
        for o, p in planned["objectives"].items():
            noise = base["fits"].get(o, {}).get("noise", {})
            if "error" in p:
                out[o] = {"extrapolation": p}
                continue
            mine = [r for r in runs if r["objective"] == o]
            result = extrapolation.assess(p, mine, noise.get("pooled_sd"), noise.get("dof", 0))
            out[o] = {"extrapolation": {**result, "study_runs": _study_optima(base, o, p["laws"])}}
        return out

    return analyse


def _study_optima(fits: dict, objective: str, laws: dict) -> dict:
    """What the figure draws beside the check: the study's IsoFLOP optima and the N_opt law that was extrapolated."""
    iso = fits["fits"].get(objective, {}).get("isoflop", {})
    keep = ("c", "n_opt", "loss", "status")
    return {
        "budgets": [{k: b.get(k) for k in keep} for b in iso.get("budgets", [])],
        "n_opt": {k: laws["n_opt"].get(k) for k in ("coef", "exponent", "ci95")},
        "fit_run_id": fits["fit_run_id"],
    }
