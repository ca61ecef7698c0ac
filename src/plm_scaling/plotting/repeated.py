"""The repeated-data study's figure (our paper Fig. 1): validation loss against tokens on fresh data and on nested
unique subsets, the measured cost of repetition against epochs, and the effective data of the fitted law."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib
import numpy as np

from ..analysis.data_constrained import effective
from ..analysis.repeated import MUENNIGHOFF
from ..sweep_point import SweepPoint
from .style import STYLE, plt, save

SYMLOG_LINEAR = 0.005


def _label(u: float | None) -> str:
    return "fresh (whole train part)" if u is None else f"U = {u:.2g} tokens"


def _unique_of(label: str) -> float:
    return float(label.split()[2]) if label.startswith("U = ") else 0.0


def _curves(ax, table, n: float, unique: dict, colours: dict) -> None:
    """Every run of size n: loss against tokens, one colour per unique-token subset (fresh black); the longest
    run of each subset drawn whole, the others' end points as dots."""
    runs = [t for t in table.by_source().values() if abs(float(t["n"][0]) - n) < 1]
    for t in sorted(runs, key=lambda t: -float(t["x"][-1])):
        point = str(t["run"][0])
        u = unique.get(point)
        tokens = t.flops / (6 * n)
        ax.plot(tokens[-1], t["loss"][-1], "o", ms=3, color=colours[u])
        if not any(line.get_label() == _label(u) for line in ax.lines):
            ax.plot(tokens, t["loss"], "-", lw=1.1, color=colours[u], label=_label(u))
    ax.set(xscale="log", xlabel="training tokens D", ylabel="validation loss (nats)", title=f"N = {n:,.0f}")
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: (labels[i] != _label(None), -_unique_of(labels[i])))
    ax.legend([handles[i] for i in order], [labels[i] for i in order], frameon=False, fontsize=6)
    low = min(float(np.min(t["loss"])) for t in runs)
    ax.set_ylim(low - 0.01, low + 0.12)  # the end of training, where the subsets part; early loss is off-scale
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _gaps(ax, fit: dict, sizes: list[float]) -> None:
    """Loss on repeated data minus fresh data at the same N and D, against epochs D/U, with 95% intervals; open
    markers: the interval holds 0 (within the seed noise)."""
    colours = dict(zip(sizes, plt.get_cmap("plasma")(np.linspace(0, 0.8, len(sizes)))))
    for g in fit["gaps"]:
        epochs = g["epochs"]
        err = None if g["ci95"] is None else [[g["diff"] - g["ci95"][0]], [g["ci95"][1] - g["diff"]]]
        face = "white" if g["ci95"] is not None and not g["beyond_noise"] else None
        if g["point"] + "_s0" in fit.get("left_out", []):  # overfit: not a point of the law
            ax.plot(epochs, g["diff"], "x", ms=9, color="0.2")
        label = f"N = {g['n']:,.0f}"
        seen = label in ax.get_legend_handles_labels()[1]
        ax.errorbar(
            epochs,
            g["diff"],
            yerr=err,
            fmt="o",
            ms=4,
            capsize=2,
            color=colours[g["n"]],
            mfc=face,
            label=None if seen else label,
        )
    ax.axhline(0, color="0.3", lw=0.8)
    ax.plot([], [], "x", color="0.2", label="overfit: left out of the law")
    # symlog: costs from the noise (1e-3) to overfitting (1 nat) on one axis, linear within ±LINEAR
    ax.set_yscale("symlog", linthresh=SYMLOG_LINEAR)
    ax.set(xscale="log", xlabel="epochs D / U", ylabel="loss − fresh-data loss (nats, symlog)")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    sd = fit.get("pooled_sd")
    ax.set_title("cost of repetition" + (f" (seed sd {sd:.4f})" if sd else " (no seed noise measured)"))
    ax.legend(frameon=False)


def _effective(ax, fit: dict) -> None:
    """D′/U against D/U: no discount (dotted), Muennighoff's R_D* (dashed), ours with its 95% interval."""
    epochs = np.logspace(0, 3, 200)
    ax.plot(epochs, epochs, ":", color="0.5", label="no discount (D′ = D)")
    ax.plot(epochs, effective(1.0, epochs, MUENNIGHOFF["R_D_star"]), "--", color="0.2", label="Muennighoff R_D* 15.4")
    r = fit.get("R_D_star")
    if r:
        lo, hi = (effective(1.0, epochs, v) for v in r["ci95"])
        ax.fill_between(epochs, lo, hi, color="tab:blue", alpha=0.2)
        note = "" if r["identified"] else " (not identified)"
        ax.plot(epochs, effective(1.0, epochs, r["value"]), color="tab:blue", label=f"ours R_D* {r['value']:.3g}{note}")
    ax.set(xscale="log", yscale="log", xlabel="epochs D / U", ylabel="effective data D′ / U")
    ax.set_title("effective data of repeated tokens")
    ax.legend(frameon=False)


def _summary(fit: dict) -> str:
    h = fit.get("harmless_up_to")
    head = (
        f"cost within the seed noise up to {h['epochs']:.3g} epochs (≤ {h['max_upper_bound']:+.4f} nats); " if h else ""
    )
    if "error" in fit:
        return head + f"no data-constrained law: {fit['error']}"
    parts = []
    for key in ("R_D_star", "R_N_star"):
        r = fit[key]
        flag = "" if r["identified"] else ", not identified"
        lo, hi = r["ci95"]
        parts.append(f"{key[:3]}* = {r['value']:.3g} [{lo:.3g}, {hi:.3g}]{flag} (Muennighoff {r['muennighoff']})")
    base = "" if fit["base_identified"] else "; base law not identified"
    return head + "; ".join(parts) + base + f"; {len(fit['left_out'])} overfit runs left out of the law"


def repeated(fit: dict, table, input_runs: list[dict], out: str | Path, provenance: str | None = None) -> None:
    """Top: loss against tokens per size; bottom: the cost of repetition against epochs, and effective data."""
    unique = {r["sweep_point"]: r["unique_tokens"] for r in input_runs if SweepPoint.of(r).unique_tokens is not None}
    sizes = sorted({float(n) for n in table["n"]})
    subsets = sorted(set(unique.values()), reverse=True)
    colours = {None: "black", **dict(zip(subsets, plt.get_cmap("viridis")(np.linspace(0.15, 0.85, len(subsets)))))}
    cols = max(len(sizes), 2)
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(3.3 * cols, 6.4))
        grid = fig.add_gridspec(2, cols)
        for k, n in enumerate(sizes):
            _curves(fig.add_subplot(grid[0, k]), table, n, unique, colours)
        _gaps(fig.add_subplot(grid[1, : cols // 2]), fit, sizes)
        _effective(fig.add_subplot(grid[1, cols // 2 :]), fit)
        title = (
            "Repeated vs fresh data (nested unique subsets of whole clusters; dots: each run's end, whole valid split)"
        )
        fig.suptitle(title + "\n" + "\n".join(textwrap.wrap(_summary(fit), 150)), fontsize=8)
        fig.tight_layout()
        save(fig, out, provenance)
