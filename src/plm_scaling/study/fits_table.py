"""The fits of a study as one table (fits_table.csv, shown in the report): every fitted number with its 95%
interval and what limits it, so a reader sees the result without opening fits.json."""

from __future__ import annotations

import csv
import math
from pathlib import Path

COLUMNS = ("objective", "quantity", "budget_flops", "value", "ci95_low", "ci95_high", "note")


def _row(objective: str, quantity: str, value, ci=None, budget=None, note: str = "") -> dict:
    lo, hi = ci if ci else (math.nan, math.nan)
    return {
        "objective": objective,
        "quantity": quantity,
        "budget_flops": budget,
        "value": value,
        "ci95_low": lo,
        "ci95_high": hi,
        "note": note,
    }


def _isoflop_rows(objective: str, iso: dict) -> list[dict]:
    rows = [
        _row(objective, "N_opt (parabola)", b.get("n_opt"), budget=b["c"], note=f"{b['sizes']} sizes, {b['status']}")
        for b in iso.get("budgets", [])
    ]
    for key, name in (("n_opt", "N_opt exponent a"), ("d_opt", "D_opt exponent b"), ("loss", "L(C) exponent")):
        if isinstance(iso.get(key), dict):
            law = iso[key]
            rows.append(_row(objective, name, law["exponent"], law.get("ci95"), note=f"coefficient {law['coef']:.4g}"))
    if "error" in iso:
        rows.append(_row(objective, "power laws", None, note=f"not fitted: {iso['error']}"))
    return rows


def _noise_rows(objective: str, noise: dict | None) -> list[dict]:
    if not noise or noise.get("pooled_sd") is None:
        return []
    note = f"{noise['dof']} dof; {noise['below_noise']} of {noise['compared']} adjacent size differences below 2 SE"
    return [_row(objective, "seed sd of the loss", noise["pooled_sd"], note=note)]


def _mask_rows(objective: str, mask: dict | None) -> list[dict]:
    if not mask:
        return []
    note = "near best (within 2 SE): {}; at common masking {}"
    return [
        _row(
            objective,
            f"best mask ratio (N={f['n']})",
            f.get("best"),
            f.get("ci95"),
            f["c"],
            note.format(f.get("near_best"), mask["common_mask_ratio"]),
        )
        for f in mask["fits"]
    ]


def _parametric_rows(objective: str, law: dict | None) -> list[dict]:
    if not law:
        return []
    if "error" in law:
        return [_row(objective, "L(N, D) parametric", None, note=f"not fitted: {law['error']}")]
    from ..analysis.parametric import identified

    ci = law.get("ci95", {})
    note = "" if identified(law) else "not identified: an interval as wide as its value, or E <= 0; do not use"
    return [_row(objective, f"parametric {k}", law[k], ci.get(k), note=note) for k in ("E", "A", "B", "alpha", "beta")]


def _ablation_rows(objective: str, fit: dict | None) -> list[dict]:
    if not fit:
        return []
    if "error" in fit:
        return [_row(objective, "data ablation", None, note=f"not fitted: {fit['error']}")]
    rows = []
    for g in fit["groups"]:
        for v in g["variants"]:
            verdict = "beyond the seed noise" if v["beyond_noise"] else "within the seed noise (interval holds 0)"
            quantity = f"loss {v['variant']} - {g['baseline']} (N={g['n']:.0f})"
            note = f"{v['seeds']} seeds, mean loss {v['mean']:.4f}; {verdict}"
            rows.append(_row(objective, quantity, v["diff"], v["ci95"], g["c"], note))
    return rows


def _repeated_rows(objective: str, fit: dict | None) -> list[dict]:
    if not fit:
        return []
    rows = []
    for g in fit["gaps"]:
        verdict = "" if g["ci95"] is None else ("; beyond" if g["beyond_noise"] else "; within") + " the seed noise"
        rows.append(
            _row(
                objective, f"loss {g['point']} - fresh", g["diff"], g["ci95"], note=f"{g['epochs']:.3g} epochs{verdict}"
            )
        )
    if fit.get("harmless_up_to"):
        h = fit["harmless_up_to"]
        note = f"every repetition cost up to here is within the seed noise ({h['points']} points)"
        rows.append(
            _row(objective, f"largest cost bound up to {h['epochs']:.3g} epochs", h["max_upper_bound"], note=note)
        )
    if fit.get("left_out"):
        rows.append(
            _row(objective, "left out of the law", None, note="overfit (loss rose): " + ", ".join(fit["left_out"]))
        )
    if "error" in fit:
        return [*rows, _row(objective, "data-constrained law", None, note=f"not fitted: {fit['error']}")]
    base = "" if fit["base_identified"] else "; the base law is not identified, so this is not a measurement"
    for key in ("R_D_star", "R_N_star"):
        r = fit[key]
        note = f"Muennighoff et al. {r['muennighoff']}" + ("" if r["identified"] else "; not identified") + base
        rows.append(_row(objective, key, r["value"], r["ci95"], note=note))
    for source, bend in fit.get("bend", {}).items():
        note = f"U = {bend['unique_tokens']:.3g} tokens, R* {source}; without repetition {bend['exponent_free']:.3f}"
        rows.append(_row(objective, "N_opt exponent on repeated data", bend["exponent_constrained"], note=note + base))
    return rows


def _transfer_rows(objective: str, t: dict | None) -> list[dict]:
    if not t:
        return []
    rows, source = [], t["pretrained_on"]
    for g in t["shares"]:
        for r in g["shares"][1:]:
            verdict = (
                "" if r["beyond_noise"] is None else ("; beyond" if r["beyond_noise"] else "; within") + " the noise"
            )
            note = f"N {g['n']:,.0f}, {r['seeds']} seed(s), equal total compute{verdict}"
            rows.append(
                _row(objective, f"loss at {r['share']:g} {source} share - scratch", r["diff"], r["ci95"], g["c"], note)
            )
        near = "" if g["near_best"] is None else f"; within the noise of it: {g['near_best']}"
        rows.append(
            _row(objective, "best share observed", g["best_share"], budget=g["c"], note=f"N {g['n']:,.0f}{near}")
        )
    for who, fronts in (("ours", t["frontiers"]), ("authors", t["authors"].get("frontiers", {}))):
        for kind in ("scratch", "transfer", "transfer_total_compute"):
            if kind in fronts:
                f = fronts[kind]
                ci = (f.get("ci95") or {}).get("exponent")
                note = f"L = {f['coef']:.4g}·C^α" + ("; interval: runs resampled" if ci else "")
                rows.append(_row(objective, f"{who} {kind} frontier exponent", f["exponent"], ci, note=note))
    for who, dt in (("ours", t["tokens"]), ("authors", t["authors"].get("tokens", {}))):
        if "error" in dt:
            rows.append(_row(objective, f"{who} D_T law", None, note=f"not fitted: {dt['error']}"))
        for key in ("k", "alpha", "beta") if "k" in dt else ():
            ci = (dt.get("ci95") or {}).get(key)
            note = f"{dt['n_points']} points" + (f"; not identified: {dt['why']}" if "why" in dt else "")
            rows.append(_row(objective, f"{who} D_T {key}", dt[key], ci, note=note))
    if "error" in t["authors"]:
        rows.append(_row(objective, "authors' transfer fits", None, note=t["authors"]["error"]))
    return rows


def _extrapolation_rows(objective: str, e: dict | None) -> list[dict]:
    if not e:
        return []
    if "prediction" not in e:
        return [_row(objective, "extrapolation check", None, note=f"not planned: {e['error']}")]
    pred, c = e["prediction"], e["budget"]
    rows = [_row(objective, "predicted N_opt", pred["n_opt"], pred["ci95"]["n_opt"], c, note="from the study's fit")]
    if pred["loss"] is not None:
        rows.append(_row(objective, "predicted loss", pred["loss"], pred["ci95"]["loss"], c))
    for p in e.get("measured", []):
        note = f"N {p['n']:,.0f}, {p['seeds']} seed(s)" + (" (the predicted size)" if p["multiple"] == 1 else "")
        rows.append(_row(objective, f"measured loss at {p['multiple']:g}x N_opt", p["mean"], budget=c, note=note))
    for r in e.get("neighbours", []):
        verdict = "beyond" if r["beyond_noise"] else "within"
        note = f"positive: the predicted size is better; {verdict} the seed noise"
        rows.append(_row(objective, f"loss {r['multiple']:g}x - 1x", r["diff"], r["ci95"], c, note))
    if "error" in e:
        rows.append(_row(objective, "extrapolation check", None, budget=c, note=e["error"]))
    else:
        rows.append(
            _row(objective, "predicted size wins", str(e["predicted_size_wins"]), budget=c, note=e.get("why", ""))
        )
    return rows


def fits_rows(fits: dict) -> list[dict]:
    rows = []
    for objective, f in fits.items():
        rows += _isoflop_rows(objective, f.get("isoflop", {}))
        rows += _noise_rows(objective, f.get("noise"))
        rows += _mask_rows(objective, f.get("mask_ratio"))
        rows += _ablation_rows(objective, f.get("ablation"))
        rows += _repeated_rows(objective, f.get("repeated"))
        rows += _transfer_rows(objective, f.get("transfer"))
        rows += _extrapolation_rows(objective, f.get("extrapolation"))
        rows += _parametric_rows(objective, f.get("parametric"))
    return rows


def _cell(value) -> str:
    """Numbers to 6 significant digits (the fits carry no more precision than that), blanks for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def write_fits_table(fits: dict, path: str | Path) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, COLUMNS)
        w.writeheader()
        for row in fits_rows(fits):
            w.writerow({k: _cell(v) for k, v in row.items()})
