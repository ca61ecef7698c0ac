"""Transfer between objectives (paper Fig. 4/5): the frontiers as the authors draw them, and the transfer study's
figure, the authors' released runs and ours side by side, with our pre-training-share sweep."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.ticker
import numpy as np

from ..sweep_point import SweepPoint
from .style import OBJ_NAME, STYLE, budget_colors, plt, save

COLOURS = {"scratch": "#4C72B0", "transfer": "#C44E52"}


def _below(ax) -> None:
    """The legend under the panel: the curves fill the panel."""
    ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=1)


def _say(ax, text: str) -> None:
    """Why a panel has nothing (or lacks a part), in the panel."""
    ax.text(0.5, 0.5, textwrap.fill(text, 40), ha="center", va="center", transform=ax.transAxes)


def frontier(ax, fit: dict, kind: str, style: str = "-", label: str | None = None) -> None:
    """A frontier's lower envelope (dotted) and its power law, with the fit's rms in log space."""
    c, env = np.array(fit["envelope_c"]), np.array(fit["envelope_loss"])
    line = fit["coef"] * c ** fit["exponent"]
    rms = float(np.sqrt(np.mean((np.log(env) - np.log(line)) ** 2)))
    ax.plot(c, env, ":", color=COLOURS[kind], lw=1.6, label=f"{label or kind}: best loss at ≤ C")
    ci = (fit.get("ci95") or {}).get("exponent")
    span = f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""
    law = f"L = {fit['coef']:.3g}·C^{fit['exponent']:.4f}{span} (rms {rms:.2%})"
    ax.plot(c, line, style, color=COLOURS[kind], lw=2, label=f"{label or kind} fit: {law}")


def _authors(ax, fit: dict, objective: str) -> None:
    if "error" in fit:
        _say(ax, f"authors' logs: {fit['error']}")
        return
    for kind in ("scratch", "transfer"):
        frontier(ax, fit["frontiers"][kind], kind)
    title = f"authors: {fit['frontiers']['direction']} ({OBJ_NAME[objective]} loss)"
    ax.set(xscale="log", xlabel="compute of the run (FLOPs)", ylabel="validation loss", title=title)
    _below(ax)


def _ours(ax, fit: dict, table, objective: str) -> None:
    """Our runs (faint), their frontiers against the run's own compute, and the transfer frontier against total
    compute (pre-training counted, dashed)."""
    for t in table.by_source().values():
        point = SweepPoint.parse(str(t["run"][0]))
        kind = "scratch" if point.transfer is None else "transfer"
        if t["objective"][0] == objective and not point.is_pretraining:
            ax.plot(t.flops, t["loss"], color=COLOURS[kind], lw=0.6, alpha=0.35)
    for kind in ("scratch", "transfer"):
        frontier(ax, fit["frontiers"][kind], kind)
    frontier(ax, fit["frontiers"]["transfer_total_compute"], "transfer", "--", "transfer, total compute")
    source = OBJ_NAME[fit["pretrained_on"]]
    title = f"ours: {source}→{OBJ_NAME[objective]} vs scratch ({OBJ_NAME[objective]} loss)"
    ax.set(xscale="log", xlabel="compute of the run (FLOPs)", ylabel="validation loss", title=title)
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # less than a decade: labels would overlap
    _below(ax)


def _shares(ax, fit: dict, objective: str) -> None:
    """Loss minus scratch's against the pre-training share, at equal total compute, per (N, C)."""
    lo, hi = fit["paper_best_shares"]
    ax.axvspan(lo, hi, color="0.85", label=f"paper: best {lo:.0%}–{hi:.0%}")
    ax.axhline(0, color="k", lw=0.8)
    groups = fit["shares"]
    for g, colour in zip(groups, budget_colors(len(groups))):
        s = np.array([r["share"] for r in g["shares"]])
        d = np.array([r["diff"] for r in g["shares"]])
        label = f"N {g['n']:,.0f}, C {g['c']:.2g}"
        if g["shares"][0]["ci95"] is not None:
            ci = np.array([r["ci95"] for r in g["shares"]])
            ax.errorbar(s, d, yerr=[d - ci[:, 0], ci[:, 1] - d], fmt="o-", ms=4, capsize=2, color=colour, label=label)
        else:
            ax.plot(s, d, "o-", ms=4, color=colour, label=label + " (no seed noise)")
    source = OBJ_NAME[fit["pretrained_on"]]
    ax.set(
        xlabel=f"share of total compute spent on {source} first",
        ylabel=f"{OBJ_NAME[objective]} loss − scratch (nats)",
        title="ours: equal total compute (95% intervals: seed noise)",
    )
    _below(ax)


def _law_label(who: str, res: dict) -> str:
    ci = res.get("ci95") or {}

    def value(key: str, digits: str) -> str:
        span = f" [{ci[key][0]:{digits}}, {ci[key][1]:{digits}}]" if ci.get(key) else ""
        return f"{res[key]:{digits}}{span}"

    caveat = " (not identified)" if res.get("identified") is False else ""
    return f"{who}: D_T = {value('k', '.3g')}·D_F^{value('alpha', '.2f')}·N^{value('beta', '.2f')}{caveat}"


def _dt_points(ax, res: dict, who: str, grey: bool) -> None:
    """D_T points per size and each size's line of the fitted law (the authors' in grey, one legend entry)."""
    pts = res["points"]
    labels = sorted({p["size_label"] for p in pts}, key=lambda lab: min(p["n"] for p in pts if p["size_label"] == lab))
    for label, colour in zip(labels, budget_colors(len(labels))):
        colour = "0.6" if grey else colour
        sel = [p for p in pts if p["size_label"] == label]
        d_f = np.array([p["d_f"] for p in sel])
        ax.plot(d_f, [p["d_t"] for p in sel], ".", ms=2, color=colour, alpha=0.5 if grey else 1.0)
        d_f = np.sort(d_f)
        law = res["k"] * d_f ** res["alpha"] * sel[0]["n"] ** res["beta"]
        ax.plot(d_f, law, color=colour, lw=1, label=None if grey and label != labels[-1] else f"{who} {label}")
    ax.plot([], [], " ", label=_law_label(who, res))


def _tokens(ax, fit: dict) -> None:
    """D_T against D_F: ours per size, the authors' in grey, each with its fitted law."""
    for who, res in (("authors", fit["authors"].get("tokens", {})), ("ours", fit["tokens"])):
        if "points" in res:
            _dt_points(ax, res, who, grey=who == "authors")
    if "error" in fit["tokens"]:
        _say(ax, f"ours: {fit['tokens']['error']}")
    ax.set(xscale="log", yscale="log", xlabel="fine-tuning tokens D_F", ylabel="transferred tokens D_T")
    ax.set_title("effectively transferred tokens")
    _below(ax)


def transfer_study(fits: dict, table, out: str | Path, provenance: str | None = None) -> None:
    """One row per objective with transfer runs: authors' frontiers | ours | share sweep | D_T."""
    objectives = [o for o, f in fits.items() if "transfer" in f]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(objectives), 4, figsize=(19, 5.6 * len(objectives)), squeeze=False)
        for row, objective in zip(axes, objectives):
            fit = fits[objective]["transfer"]
            _authors(row[0], fit["authors"], objective)
            _ours(row[1], fit, table, objective)
            _shares(row[2], fit, objective)
            _tokens(row[3], fit)
        fig.tight_layout()
        save(fig, out, provenance)
