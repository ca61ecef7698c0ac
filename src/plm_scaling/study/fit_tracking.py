"""What an analysis step of a study (the fit, the extrapolation check) records in its MLflow run besides its files:
the fitted exponents with their 95% intervals and bootstrap counts as metrics, and a description (the run page's
"Description", markdown) with a link to each training run it read, so that its lineage is a click in the UI.

The training runs exist before the fit, and several fits may read the same run, so MLflow's parent/child relation
(set when a run is created) does not fit; the description's links do, and the tag source_run_ids keeps the ids.
"""

from __future__ import annotations

import math

from ..analysis.flop_count import law_labels
from ..analysis.powerlaw import failed_resamples

NOTE = "mlflow.note.content"  # MLflow's tag for a run's description, shown on its page as markdown
NOTE_LIMIT = 7500  # MLflow keeps at most 8000 characters of a tag value
LAWS = ("n_opt", "d_opt", "n_opt_other")  # of the IsoFLOP fit (analysis/isoflop.py)
PARAMETRIC = ("alpha", "beta")  # L = E + A/N^alpha + B/D^beta


def fit_metrics(fits: dict) -> dict[str, float]:
    """Per objective: each IsoFLOP exponent (`clm_n_opt_exponent`), its 95% interval (`..._ci95_low`,
    `..._ci95_high`) and its bootstrap resamples used and failed (a resample that fits no law); the parametric
    law's alpha and beta with their intervals. Only the numbers a step computed, and only finite ones."""
    out: dict[str, float] = {}
    for o, f in fits.items():
        iso = f.get("isoflop", {})
        for key in LAWS:
            if key not in iso:
                continue
            # the other count's law named by its count: clm_n_opt_full_exponent
            stem = f"{o}_n_opt_{iso['other_compute']}" if key == "n_opt_other" else f"{o}_{key}"
            name, law = f"{stem}_exponent", iso[key]
            out[name] = law["exponent"]
            out.update(_interval(name, law.get("ci95")))
            if "samples" in law and "bootstrap" in iso:
                out[f"{stem}_bootstrap_used"] = len(law["samples"])
                out[f"{stem}_bootstrap_failed"] = failed_resamples(law, iso["bootstrap"])
        vp = f.get("vpnls", {})
        if "n_opt_exponent" in vp:  # the variable-projection law's N_opt exponent, beside interp's
            out[f"{o}_vpnls_n_opt_exponent"] = vp["n_opt_exponent"]
            out.update(_interval(f"{o}_vpnls_n_opt_exponent", (vp.get("ci95") or {}).get("n_opt_exponent")))
        law = f.get("parametric", {})
        for key in PARAMETRIC:
            if key in law:
                out[f"{o}_parametric_{key}"] = law[key]
                out.update(_interval(f"{o}_parametric_{key}", law.get("ci95", {}).get(key)))
    return {k: float(v) for k, v in out.items() if v is not None and math.isfinite(v)}


def _interval(name: str, ci: list | None) -> dict:
    return {f"{name}_ci95_low": ci[0], f"{name}_ci95_high": ci[1]} if ci else {}


def _cell(value, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def _exponent_rows(fits: dict) -> list[str]:
    rows = []
    for o, f in fits.items():
        iso = f.get("isoflop", {})
        for key in LAWS:
            if key in iso:
                law = law_labels(iso)[key]
                lo, hi = iso[key].get("ci95") or (None, None)
                used = len(iso[key].get("samples", []))
                boot = f"{used} / {failed_resamples(iso[key], iso['bootstrap'])}" if "bootstrap" in iso else "n/a"
                interval = f"[{_cell(lo, '.3f')}, {_cell(hi, '.3f')}]"
                rows.append(f"| {o} | {law} | {iso[key]['exponent']:.3f} | {interval} | {boot} |")
    if not rows:
        return []
    return ["| objective | law | exponent | 95% interval | bootstrap used / failed |", "|---|---|---|---|---|", *rows]


def description(step: str, study: str, fits: dict, runs: list[dict], client) -> str:
    """The step's run description: its fitted exponents, then one row per training run it read (by objective,
    compute and N), the run's name linking to its page (#/experiments/ID/runs/RUN: the UI's own address of it).
    Rows past MLflow's limit on a tag are left out, saying how many (all ids: tag source_run_ids, fits.json's
    input_runs)."""
    from mlflow.exceptions import MlflowException

    lines = [
        f"**{step}** of study `{study}`: its files are this run's artifacts, its loss table its input dataset.",
        "",
    ]
    if exponents := _exponent_rows(fits):
        lines += [*exponents, ""]
    lines += [f"**{len(runs)} training runs** (a name opens the run):", ""]
    lines += ["| run | sweep point | N | C | D | valid loss |", "|---|---|---|---|---|---|"]
    by_size = sorted(runs, key=lambda r: (r["objective"], r.get("flops") or 0.0, r.get("n") or 0))  # as numbers
    for i, r in enumerate(by_size):
        name = r["sweep_point"]
        try:
            found = client.get_run(r["run_id"]) if r.get("run_id") else None
        except MlflowException:  # not in this store: the row without a link
            found = None
        if found is not None:
            name = f"[{found.info.run_name}](#/experiments/{found.info.experiment_id}/runs/{found.info.run_id})"
        row = (
            f"| {name} | {r['sweep_point']} | {r['n']} | {_cell(r.get('flops'), '.3g')} | "
            f"{_cell(r.get('tokens'), '.3g')} | {_cell(r.get('valid_loss'), '.4f')} |"
        )
        if sum(len(x) + 1 for x in lines) + len(row) > NOTE_LIMIT:
            lines += ["", f"... and {len(runs) - i} more (all: tag source_run_ids, fits.json's input_runs)"]
            break
        lines.append(row)
    return "\n".join(lines)


def log_step(step: str, study: str, fits: dict, runs: list[dict]) -> None:
    """The exponents as metrics of the active run, and its description with the links to its training runs."""
    import mlflow

    if metrics := fit_metrics(fits):
        mlflow.log_metrics(metrics)
    client = mlflow.MlflowClient(mlflow.get_tracking_uri())
    mlflow.set_tag(NOTE, description(step, study, fits, runs, client))
