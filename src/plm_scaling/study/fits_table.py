"""The fits of a study as one table (fits_table.csv, shown in the report): every fitted number with its 95%
interval and what limits it, so a reader sees the result without opening fits.json."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from ..analysis.flop_count import FLOP_UNIT
from ..analysis.powerlaw import resample_note
from .tuning_recipe import tuning_rows

# One row per fitted number: `value` in `unit`, its 95% interval; a power law y = coef · x^exponent carries its
# exponent as the value and the coefficient with the units of x and y; a per-budget IsoFLOP optimum also its D_opt
# and the loss at the optimum.
COLUMNS = (
    "objective",
    "quantity",
    "budget_flops",
    "value",
    "unit",
    "ci95_low",
    "ci95_high",
    "coef",
    "x_unit",
    "y_unit",
    "d_opt_tokens",
    "loss_at_opt_nats",
    "note",
)
NATS, ONE = "nats", "dimensionless"


def _row(objective: str, quantity: str, value, ci=None, budget=None, note: str = "", unit: str = "", **more) -> dict:
    lo, hi = ci if ci else (math.nan, math.nan)
    row = dict.fromkeys(COLUMNS)
    row.update(objective=objective, quantity=quantity, budget_flops=budget, value=value, unit=unit, note=note)
    return {**row, "ci95_low": lo, "ci95_high": hi, **more}


def _law_row(objective: str, quantity: str, law: dict, ci, x_unit: str, y_unit: str, note: str = "") -> dict:
    """A power law y = coef · x^exponent: its exponent (the value, with its interval) and its coefficient."""
    return _row(
        objective, quantity, law["exponent"], ci, note=note, unit=ONE, coef=law["coef"], x_unit=x_unit, y_unit=y_unit
    )


# The IsoFLOP laws (analysis/isoflop.py): N_opt and D_opt against C in FLOPs, the loss against C in PF-days, and
# N_opt against C in the other count (analysis/flop_count.py); None: the unit of the fit's or the other count
ISOFLOP_LAWS = {
    "n_opt": ("N_opt exponent a", "compute", "parameters"),
    "d_opt": ("D_opt exponent b", "compute", "tokens"),
    "loss": ("L(C) exponent", "PF-days", NATS),
    "n_opt_other": ("N_opt exponent a, other count", "other_compute", "parameters"),
}


def _isoflop_rows(objective: str, iso: dict) -> list[dict]:
    """Per budget its optimum N_opt (no interval: the bootstrap is of the laws), D_opt and loss there; the laws."""
    rows = [
        _row(
            objective,
            "N_opt (parabola)",
            b.get("n_opt"),
            budget=b["c"],
            note=f"{b['sizes']} sizes, {b['status']}",
            unit="parameters",
            d_opt_tokens=b.get("d_opt"),
            loss_at_opt_nats=b.get("loss"),
        )
        for b in iso.get("budgets", [])
    ]
    for key, (name, x_unit, y_unit) in ISOFLOP_LAWS.items():
        if isinstance(iso.get(key), dict):
            law = iso[key]
            floor = f"L = E + coef·C^exponent, E = {law['floor']:.4g} nats" if "floor" in law else ""
            method = (iso.get("resamples") or {}).get("method")
            rests = resample_note(law, iso.get("bootstrap"), method)
            note = "; ".join(filter(None, (floor, rests)))
            x_unit = FLOP_UNIT[iso.get(x_unit) or "paper"] if x_unit.endswith("compute") else x_unit
            rows.append(_law_row(objective, name, law, law.get("ci95"), x_unit, y_unit, note))
    if "error" in iso:
        rows.append(_row(objective, "power laws", None, note=f"not fitted: {iso['error']}"))
    return rows


def _vpnls_rows(objective: str, law: dict | None) -> list[dict]:
    """The variable-projection law's N_opt exponent, with what its interval rests on and whether it is a law."""
    if not law:
        return []
    if "error" in law:
        return [_row(objective, "vpnls N_opt exponent", None, note=f"not fitted: {law['error']}")]
    ci = (law.get("ci95") or {}).get("n_opt_exponent")
    rests = resample_note(law, law.get("bootstrap"))
    verdict = "" if law["status"]["ok"] else "NOT a law (an exponent at its bound or a term at 0)"
    note = "; ".join(filter(None, (f"beta/(alpha+beta), C = 6·N·D, {law['n_points']} runs", rests, verdict)))
    return [_row(objective, "vpnls N_opt exponent", law["n_opt_exponent"], ci, note=note, unit=ONE)]


def _noise_rows(objective: str, noise: dict | None) -> list[dict]:
    """The seed noise, measured only where a sweep point was trained with several seeds; the row says when not."""
    if not noise:
        return []
    if noise.get("pooled_sd") is None:
        note = "not measured: no sweep point was trained with 2 or more seeds"
        return [_row(objective, "seed sd of the loss", None, note=note, unit=NATS)]
    z = noise.get("z", 2)
    note = (
        f"{noise['dof']} dof; {noise['below_noise']} of {noise['compared']} adjacent size differences below {z:g} SE"
        " + thread spread"
    )
    return [_row(objective, "seed sd of the loss", noise["pooled_sd"], note=note, unit=NATS)]


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
            unit="fraction masked",
        )
        for f in mask["fits"]
    ]


# L(N, D) = E + A / N^alpha + B / D^beta with N in parameters and D in tokens
PARAMETRIC = {"E": NATS, "A": "nats·parameters^alpha", "B": "nats·tokens^beta", "alpha": ONE, "beta": ONE}


def _parametric_rows(objective: str, law: dict | None) -> list[dict]:
    if not law:
        return []
    if "error" in law:
        return [_row(objective, "L(N, D) parametric", None, note=f"not fitted: {law['error']}")]
    from ..analysis.parametric import identified

    ci = law.get("ci95", {})
    note = "" if identified(law) else "not identified: an interval as wide as its value, or E <= 0; do not use"
    return [_row(objective, f"parametric {k}", law[k], ci.get(k), note=note, unit=u) for k, u in PARAMETRIC.items()]


def _verdict(r: dict) -> str:
    """A difference against the noise (ablation.difference): its seed-noise interval widened by the thread spread."""
    if r.get("beyond_noise") is None or r.get("ci95") is None:
        return ""
    margin = f"the seed noise + thread spread {r.get('thread_spread', 0.0):.4f} nats"
    return ("beyond " if r["beyond_noise"] else "within ") + margin


def _ablation_rows(objective: str, fit: dict | None) -> list[dict]:
    if not fit:
        return []
    if "error" in fit:
        return [_row(objective, "data ablation", None, note=f"not fitted: {fit['error']}")]
    rows = []
    for g in fit["groups"]:
        for v in g["variants"]:
            quantity = f"loss {v['variant']} - {g['baseline']} (N={g['n']:.0f})"
            note = f"{v['seeds']} seeds, mean loss {v['mean']:.4f}; {_verdict(v)}"
            rows.append(_row(objective, quantity, v["diff"], v["ci95"], g["c"], note, NATS))
    return rows


def _repeated_rows(objective: str, fit: dict | None) -> list[dict]:
    if not fit:
        return []
    rows = []
    for g in fit["gaps"]:
        note = "; ".join(filter(None, (f"{g['epochs']:.3g} epochs", _verdict(g))))
        rows.append(_row(objective, f"loss {g['point']} - fresh", g["diff"], g["ci95"], note=note, unit=NATS))
    if fit.get("harmless_up_to"):
        h = fit["harmless_up_to"]
        note = f"every repetition cost up to here is within the seed noise ({h['points']} points)"
        quantity = f"largest cost bound up to {h['epochs']:.3g} epochs"
        rows.append(_row(objective, quantity, h["max_upper_bound"], note=note, unit=NATS))
    if fit.get("left_out"):
        rows.append(
            _row(objective, "left out of the law", None, note="overfit (loss rose): " + ", ".join(fit["left_out"]))
        )
    if "error" in fit:
        return [*rows, _row(objective, "data-constrained law", None, note=f"not fitted: {fit['error']}")]
    base = "" if fit["base_identified"] else "; the base law is not identified, so this is not a measurement"
    for key, unit in (("R_D_star", "epochs"), ("R_N_star", ONE)):
        r = fit[key]
        note = f"Muennighoff et al. {r['muennighoff']}" + ("" if r["identified"] else "; not identified") + base
        rows.append(_row(objective, key, r["value"], r["ci95"], note=note, unit=unit))
    for source, bend in sorted(fit.get("bend", {}).items()):  # one order, in memory or read back from JSON
        note = f"U = {bend['unique_tokens']:.3g} tokens, R* {source}; without repetition {bend['exponent_free']:.3f}"
        quantity = "N_opt exponent on repeated data"
        rows.append(_row(objective, quantity, bend["exponent_constrained"], note=note + base, unit=ONE))
    return rows


D_T = {"k": "tokens^(1-alpha)·parameters^(-beta)"}  # D_T = k · D_F^alpha · N^beta, in tokens


def _transfer_rows(objective: str, t: dict | None) -> list[dict]:
    if not t:
        return []
    rows, source = [], t["pretrained_on"]
    for g in t["shares"]:
        for r in g["shares"][1:]:
            note = "; ".join(filter(None, (f"N {g['n']:,.0f}, {r['seeds']} seed(s), equal total compute", _verdict(r))))
            quantity = f"loss at {r['share']:g} {source} share - scratch"
            rows.append(_row(objective, quantity, r["diff"], r["ci95"], g["c"], note, NATS))
        near = "" if g["near_best"] is None else f"; within the noise of it: {g['near_best']}"
        note = f"N {g['n']:,.0f}{near}"
        rows.append(_row(objective, "best share observed", g["best_share"], None, g["c"], note, "share of compute"))
    for who, fronts in (("ours", t["frontiers"]), ("authors", t["authors"].get("frontiers", {}))):
        for kind in ("scratch", "transfer", "transfer_total_compute"):
            if kind in fronts:
                f = fronts[kind]
                ci = (f.get("ci95") or {}).get("exponent")
                note = "L = coef·C^exponent" + ("; interval: runs resampled" if ci else "")
                rows.append(_law_row(objective, f"{who} {kind} frontier exponent", f, ci, "FLOPs", NATS, note))
    for who, dt in (("ours", t["tokens"]), ("authors", t["authors"].get("tokens", {}))):
        if "error" in dt:
            rows.append(_row(objective, f"{who} D_T law", None, note=f"not fitted: {dt['error']}"))
        for key in ("k", "alpha", "beta") if "k" in dt else ():
            ci = (dt.get("ci95") or {}).get(key)
            note = f"{dt['n_points']} points" + (f"; not identified: {dt['why']}" if "why" in dt else "")
            rows.append(_row(objective, f"{who} D_T {key}", dt[key], ci, note=note, unit=D_T.get(key, ONE)))
    if "error" in t["authors"]:
        rows.append(_row(objective, "authors' transfer fits", None, note=t["authors"]["error"]))
    return rows


def _extrapolation_rows(objective: str, e: dict | None) -> list[dict]:
    if not e:
        return []
    if "prediction" not in e:
        return [_row(objective, "extrapolation check", None, note=f"not planned: {e['error']}")]
    pred, c = e["prediction"], e["budget"]
    rows = [
        _row(
            objective, "predicted N_opt", pred["n_opt"], pred["ci95"]["n_opt"], c, "from the study's fit", "parameters"
        )
    ]
    if pred["loss"] is not None:
        rows.append(_row(objective, "predicted loss", pred["loss"], pred["ci95"]["loss"], c, unit=NATS))
    for p in e.get("measured", []):
        note = f"N {p['n']:,.0f}, {p['seeds']} seed(s)" + (" (the predicted size)" if p["multiple"] == 1 else "")
        rows.append(_row(objective, f"measured loss at {p['multiple']:g}x N_opt", p["mean"], None, c, note, NATS))
    for r in e.get("neighbours", []):
        note = f"positive: the predicted size is better; {_verdict(r)}"
        rows.append(_row(objective, f"loss {r['multiple']:g}x - 1x", r["diff"], r["ci95"], c, note, NATS))
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
        rows += [_row(objective, "diverged run", None, note=f"{d['run']}: {d['why']}; left out of every fit")
                 for d in f.get("diverged", [])]  # fmt: skip
        rows += _mask_rows(objective, f.get("mask_ratio"))
        rows += tuning_rows(objective, f.get("tuning"), _row)
        rows += _ablation_rows(objective, f.get("ablation"))
        rows += _repeated_rows(objective, f.get("repeated"))
        rows += _transfer_rows(objective, f.get("transfer"))
        rows += _extrapolation_rows(objective, f.get("extrapolation"))
        rows += _parametric_rows(objective, f.get("parametric"))
        rows += _vpnls_rows(objective, f.get("vpnls"))
    return rows


def _cell(value) -> str:
    """Numbers to 6 significant digits (the fits carry no more precision than that), blanks for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def write_fits_table(fits: dict, path: str | Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, COLUMNS)
        w.writeheader()
        for row in fits_rows(fits):
            w.writerow({k: _cell(v) for k, v in row.items()})
