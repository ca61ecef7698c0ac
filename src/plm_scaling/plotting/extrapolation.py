"""The extrapolation check's figure: the study's N_opt law carried to the check budget (left) and, at that budget,
the measured loss of the predicted size and its neighbours against the predicted loss (right)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .style import OBJ_NAME, STYLE, plt, save

VERDICT = {True: "yes", False: "no", None: "not resolved (within the seed noise)"}


def _law_panel(ax, e: dict) -> None:
    study, pred = e["study_runs"], e["prediction"]
    optima = [b for b in study["budgets"] if b.get("n_opt") is not None and np.isfinite(b["n_opt"])]
    ax.plot([b["c"] for b in optima], [b["n_opt"] for b in optima], "o", color="tab:blue", label="study IsoFLOP optima")
    low = min([b["c"] for b in study["budgets"]], default=e["budget"] / 10)
    c = np.logspace(np.log10(low), np.log10(e["budget"]), 50)
    law = study["n_opt"]
    label = f"extrapolated law: N_opt ∝ C^{law['exponent']:.2f}"
    ax.plot(c, law["coef"] * c ** law["exponent"], "-", color="tab:blue", lw=1, label=label)
    ci = pred["ci95"]["n_opt"]
    err = None if ci is None else [[pred["n_opt"] - ci[0]], [ci[1] - pred["n_opt"]]]
    ax.errorbar(
        e["budget"],
        pred["n_opt"],
        yerr=err,
        fmt="*",
        ms=11,
        color="tab:red",
        capsize=3,
        label="predicted N_opt (95% CI)",
    )
    best = min(e.get("measured", []), key=lambda p: p["mean"], default=None)
    if best is not None:
        ax.plot(e["budget"], best["n"], "D", mfc="white", color="black", label=f"best measured ({best['multiple']:g}x)")
    ax.set(xscale="log", yscale="log", xlabel="compute C (FLOPs)", ylabel="N (non-embedding parameters)")
    ax.legend(frameon=False)


def _loss_panel(ax, e: dict) -> None:
    pred = e["prediction"]
    measured = e.get("measured", [])
    for p in measured:
        sd = np.std(p["losses"], ddof=1) if p["seeds"] > 1 else 0.0
        ax.errorbar(p["n"], p["mean"], yerr=sd, fmt="o", color="black", capsize=3)
        ax.annotate(f"{p['multiple']:g}x", (p["n"], p["mean"]), textcoords="offset points", xytext=(5, 5), fontsize=7)
    if pred["loss"] is not None:
        ax.axhline(pred["loss"], color="tab:red", lw=1, label="predicted loss L(C*)")
        if pred["ci95"]["loss"]:
            ax.axhspan(*pred["ci95"]["loss"], color="tab:red", alpha=0.15, label="its 95% interval")
    ax.axvline(pred["n_opt"], color="tab:red", ls="--", lw=1, label="predicted N_opt")
    ax.set(xscale="log", xlabel="N (non-embedding parameters)", ylabel="validation loss (whole split)")
    ax.legend(frameon=False)


def _title(objective: str, e: dict) -> str:
    pred = e["prediction"]
    head = f"{OBJ_NAME.get(objective, objective)} at {e['budget']:.2g} FLOPs: predicted N_opt {pred['n_opt']:,.0f}"
    if "loss_error" in e:
        inside = {True: "inside its interval", False: "outside its interval", None: "the law has no interval"}
        head += f", loss measured − predicted {e['loss_error']:+.4f} ({inside[e['within_prediction_interval']]})"
    source = e.get("law_source", "")
    return head + f"\npredicted size wins: {VERDICT[e.get('predicted_size_wins')]}; law: {source}"


def extrapolation(checks: dict, out: str | Path, provenance: str | None = None) -> None:
    """One row per objective: the law carried to the check budget, and the losses measured there."""
    objectives = sorted(checks)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(objectives), 2, figsize=(10, 3.8 * len(objectives)), squeeze=False)
        for (left, right), o in zip(axes, objectives):
            e = checks[o]
            if "error" in e or "study_runs" not in e:
                left.text(0.0, 0.5, f"{o}: {e.get('error', 'not checked')}", transform=left.transAxes)
                right.set_visible(False)
                continue
            _law_panel(left, e)
            _loss_panel(right, e)
            left.set_title(_title(o, e), loc="left", fontsize=8)
        fig.suptitle("The fitted law checked by extrapolation (planned from the fit, trained, measured)")
        fig.tight_layout()
        save(fig, out, provenance)
