"""The extrapolation check of a study (study key `extrapolate`): plan the runs at a larger budget from the fit, then
compare what they measure with what the fit predicted (analysis/extrapolation.py says how).

In the workflow the plan is a Snakemake checkpoint: which points to train depends on the fit, so the DAG is
re-evaluated once the plan exists, and a changed fit re-plans only the points whose size or budget changed (point
ids name both; the training rule takes the plan as an `ancient` input and its overrides as params).
"""

from __future__ import annotations

from pathlib import Path

from ..analysis import extrapolation
from ..io import atomic_outputs, read_json, write_json
from .fit import analysis_run
from .sweeps import expand

DEFAULTS = {"factor": 3.0, "multiples": list(extrapolation.MULTIPLES), "seeds": [0], "law": None}


def settings(study: dict) -> dict:
    """The study's `extrapolate` block with its defaults (objectives: every objective the study fits)."""
    return {**DEFAULTS, **study["extrapolate"]}


def plan_check(fits_json: str | Path, study_file: str | Path, out_json: str | Path) -> dict:
    """plan.json: per objective the check budget, the prediction and the planned points with their overrides (the
    study's overrides included), or why none can be planned (no N_opt law)."""
    import yaml

    fits, study = read_json(fits_json), yaml.safe_load(Path(study_file).read_text())
    ext, objectives, points = settings(study), {}, {}
    for o in ext.get("objectives") or sorted(fits["fits"]):
        laws, source = _laws(fits, o, ext.get("law"))
        if "n_opt" not in laws:
            objectives[o] = {"error": f"no N_opt law to extrapolate: {laws.get('error', 'objective not in the study')}"}
            continue
        budget = extrapolation.check_budget(fits["input_runs"], o, ext["factor"])
        objectives[o] = {**extrapolation.plan_objective(laws, budget, ext["multiples"]), "law_source": source}
        grid = {"objectives": [o], "sizes": list(objectives[o]["sizes"].values()), "budgets": [budget]}
        mini = {"sweeps": [grid], "seeds": ext["seeds"], "overrides": study.get("overrides", []), "point_overrides": {}}
        points.update({pid: p.overrides for pid, p in expand(mini).items()})
    result = {"fits": str(Path(fits_json).resolve()), "fit_run_id": fits["fit_run_id"], "settings": ext}
    result.update(objectives=objectives, points=points)
    with atomic_outputs(out_json) as (tmp,):
        write_json(tmp, result)
    return result


def _laws(fits: dict, objective: str, law_file: str | None) -> tuple[dict, str]:
    """The laws to extrapolate: the study's own IsoFLOP fit, or a laws file (extrapolate.law: any law, e.g. one
    fitted elsewhere, checked on this study's data and scale)."""
    if law_file:
        from ..analysis.planner import load_laws

        return load_laws(objective, law_file)
    return fits["fits"].get(objective, {}).get("isoflop", {}), f"the study's IsoFLOP fit (run {fits['fit_run_id']})"


def check(study: str, plan_json, run_dirs, study_file, manifest, tracking_uri, experiment, outputs) -> dict:
    """The check as an analysis run (its JSON has the fits JSON's shape: `fits[objective]["extrapolation"]`), so
    the figure step and audit treat it as any fit."""
    planned, base = read_json(plan_json), read_json(read_json(plan_json)["fits"])

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

    where = (study_file, manifest, tracking_uri, experiment)
    planned_from = {"fit_run_id": base["fit_run_id"], "plan": str(Path(plan_json).resolve())}
    return analysis_run("check", study, run_dirs, *where, outputs, analyse, extra={"planned_from": planned_from})


def _study_optima(fits: dict, objective: str, laws: dict) -> dict:
    """What the figure draws beside the check: the study's IsoFLOP optima and the N_opt law that was extrapolated."""
    iso = fits["fits"].get(objective, {}).get("isoflop", {})
    keep = ("c", "n_opt", "loss", "status")
    return {
        "budgets": [{k: b.get(k) for k in keep} for b in iso.get("budgets", [])],
        "n_opt": {k: laws["n_opt"].get(k) for k in ("coef", "exponent", "ci95")},
        "fit_run_id": fits["fit_run_id"],
    }
