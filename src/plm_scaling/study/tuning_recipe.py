"""The tuned recipe a tuning study writes from its fit (rule tuned_recipe) and another study trains with (study key
recipe): per objective LR*(N) = coef·N^exponent and the best Adam β2, with what they rest on.

Provenance, for audit and for the runs that use it (training/tuned.py records the file's sha256 in each run):
the fits JSON it was read from (path and sha256), the fit's MLflow run, the study, and every tuning run (sweep point,
MLflow run, sha256 of its run.json). An objective without a law (fewer than 2 sizes with an interior LR optimum) is
left out with the reason; a study whose every objective lacks one writes no recipe.
"""

from __future__ import annotations

from pathlib import Path

from ..io import atomic_outputs, sha256_file, write_json
from .fits_schema import read_fits


def _entry(fit: dict) -> tuple[dict | None, str | None]:
    """(recipe entry, None) of one objective's tuning fit, or (None, why not)."""
    tuning = fit.get("tuning")
    if tuning is None:
        return None, "no tuning cells (grid keys lr_scales, beta2s)"
    law = tuning.get("lr_law")
    if law is None:
        return None, tuning.get("why", "no LR*(N) law")
    keep = ("coef", "exponent", "ci95", "bootstrap", "failed", "sizes", "edges")
    return {"lr": {k: law.get(k) for k in keep}, "beta2": tuning["best_beta2"]}, None


def recipe_of(fits: dict, fits_path: str | Path) -> dict:
    """The recipe from a checked fits JSON; ValueError in one line when no objective has a law."""
    objectives, left_out = {}, {}
    for objective, fit in sorted(fits["fits"].items()):
        entry, why = _entry(fit)
        if entry is None:
            left_out[objective] = why
        else:
            objectives[objective] = entry
    if not objectives:
        reasons = "; ".join(f"{o}: {w}" for o, w in left_out.items())
        raise ValueError(f"{fits_path}: no objective has an LR*(N) law, no recipe ({reasons})")
    return {
        "study": fits["study"],
        "fit_run_id": fits["fit_run_id"],
        "fits": {"path": str(Path(fits_path).resolve()), "sha256": sha256_file(fits_path)},
        "objectives": objectives,
        "left_out": left_out,
        "runs": [
            {"sweep_point": r["sweep_point"], "run_id": r["run_id"], "run_json_sha256": r["files"].get("run.json")}
            for r in fits["input_runs"]
        ],
    }


def tuning_rows(objective: str, t: dict | None, row) -> list[dict]:
    """The fits table's rows of a tuning fit (`row`: fits_table._row): LR*(N) with its interval and what it rests
    on, the best beta2, and per size its best cell and the loss tuning gains there against the seed noise."""
    if not t:
        return []
    law = t["lr_law"]
    if law is None:
        rows = [row(objective, "LR*(N) exponent", None, note=f"not fitted: {t.get('why', '')}")]
    else:
        rests = f"{law['sizes']} sizes, at beta2 {t['best_beta2']}; left out (edge): {law.get('edges') or 'none'}"
        draws = f"{law['bootstrap'] - (law['failed'] or 0)} of {law['bootstrap']} draws" if law["bootstrap"] else ""
        note = "; ".join(filter(None, (rests, draws or "no interval: no seed noise measured")))
        rows = [row(objective, "LR*(N) exponent", law["exponent"], law["ci95"], note=note, coef=law["coef"])]
    rows.append(row(objective, "best beta2", t["best_beta2"], note="lowest sum of the sizes' lowest losses"))
    for size in t["sizes"]:
        best, gain = size["best_cell"], size["gain"] or {}
        where = f"N {size['n']:,.0f}: beta2 {best['beta2']}, peak LR {best['lr']:.3g}"
        rows.append(row(objective, "best cell loss", best["loss"], note=where, unit="nats"))
        if gain:
            verdict = {True: "beyond", False: "within", None: "no seed noise:"}[gain["beyond"]]
            note = f"N {size['n']:,.0f}: recipe cell {gain['loss_recipe']:.4f} minus best; {verdict} the noise"
            rows.append(row(objective, "tuning gain", gain["gain"], note=note, unit="nats"))
    return rows


def write_recipe(fits_path: str | Path, out: str | Path) -> dict:
    """Write the recipe of the tuning study whose fits JSON is at `fits_path` to `out` (atomically)."""
    recipe = recipe_of(read_fits(fits_path), fits_path)
    with atomic_outputs(Path(out)) as (tmp,):
        write_json(tmp, recipe)
    return recipe
