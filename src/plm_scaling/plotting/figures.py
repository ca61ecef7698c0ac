"""The paper's figures, drawn from the tidy loss table and the fits only. Each is written as PNG and SVG."""

from __future__ import annotations

import textwrap
from pathlib import Path, PurePath

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from ..analysis.curves import running_mean  # noqa: E402
from ..analysis.isoflop import local_parabola  # noqa: E402
from ..analysis.logs import size_label  # noqa: E402
from ..analysis.parametric import compute_optimal, identified, predict  # noqa: E402
from ..analysis.released import (  # noqa: E402  # noqa: E402
    MLM_FROM_CLM_PREFIX,
    PAPER_EXPONENTS,
    REPEATED_DATA_PREFIX,
    REPEATED_FOLDER_PREFIX,
    with_prefix,
)
from ..analysis.table import Table  # noqa: E402
from ..analysis.transfer import is_transfer, parameters  # noqa: E402
from ..io import atomic_outputs  # noqa: E402

STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 7,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 120,
}
OBJ_NAME = {"clm": "CLM", "mlm": "MLM"}


def save(fig, out_png: str | Path, provenance: str | None = None) -> None:
    """PNG at `out_png` and SVG beside it, both written atomically. `provenance` (a JSON text) goes inside both
    files: a PNG text chunk "Provenance" and the SVG's Dublin Core description."""
    png = Path(out_png)
    png_meta = {"Software": "plm-scaling", **({"Provenance": provenance} if provenance else {})}
    svg_meta = {"Creator": "plm-scaling", **({"Description": provenance} if provenance else {})}
    with atomic_outputs(png, png.with_suffix(".svg")) as (tmp_png, tmp_svg):
        fig.savefig(tmp_png, format="png", dpi=150, bbox_inches="tight", metadata=png_meta)
        fig.savefig(tmp_svg, format="svg", bbox_inches="tight", metadata=svg_meta)
    plt.close(fig)


def _curves(table: Table, group_prefix: str, dedupe: bool = True) -> dict[str, Table]:
    sub = with_prefix(table, group_prefix)
    return {s: t for s, t in sub.by_source().items() if not (dedupe and t["duplicate_of"][0])}


def repeated_data(table: Table, out: str | Path, provenance: str | None = None) -> None:
    """Fig. 1 analogue: validation loss against tokens, UR50/S repeated for many epochs vs UniMeta200B once."""
    curves = _curves(table, REPEATED_DATA_PREFIX)
    panels: dict[tuple, dict] = {}
    for src, t in curves.items():
        folder = PurePath(src).parent.name
        data = "UR50/S (repeated)" if folder.startswith(REPEATED_FOLDER_PREFIX) else "UniMeta200B (1 epoch)"
        key = (t["objective"][0], size_label(folder))
        if folder.endswith(("shuffle", "shuffle_副本")):
            continue  # shuffling ablations: not part of Fig. 1
        # Prefer the loss export over the perplexity export of the same run.
        if data not in panels.setdefault(key, {}) or t["metric"][0] == "valid_loss":
            panels[key][data] = t
    keys = sorted(panels, key=lambda k: (k[0], parameters(k[1])))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(keys), figsize=(3.0 * len(keys), 2.8), squeeze=False)
        for ax, key in zip(axes[0], keys):
            top, start = -np.inf, np.inf
            for data, t in sorted(panels[key].items()):
                colour = "#C44E52" if "UR50" in data else "#4C72B0"
                smooth = running_mean(t["loss"])
                ax.plot(t["x"], t["loss"], lw=0.5, alpha=0.25, color=colour)
                ax.plot(t["x"], smooth, lw=1.4, label=f"{data} (running mean)", color=colour)
                top = max(top, float(np.percentile(smooth, 75)))
                start = min(start, float(t["x"][np.argmax(smooth <= top)]))
            lows = [float(np.percentile(t["loss"], 1)) for t in panels[key].values()]
            ax.set(xscale="log", xlabel="tokens", title=f"{OBJ_NAME[key[0]]} {key[1]}")
            ax.set(ylim=(min(lows) - 0.02, top), xlim=(start, max(float(t["x"].max()) for t in panels[key].values())))
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        axes[0][0].set_ylabel("validation loss")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False, bbox_to_anchor=(0.5, -0.16))
        fig.suptitle("Repeated UR50/S data overfits; diverse UniMeta200B keeps improving", y=1.03)
        save(fig, out, provenance)


def _dropped_note(ax, dropped: list[dict] | None) -> None:
    """Under the profiles: the budgets the fit left out, with the number of sizes that reached each."""
    if dropped:
        d0, note = dropped[0], ", ".join(f"{d['c']:.0e} ({d['sizes']})" for d in dropped)
        ax.text(
            0.0,
            -0.32,
            textwrap.fill(
                f"Budgets left out, fewer than {d0['min_sizes']} sizes ended within "
                f"{d0['rel_tol']:.0%} of them (sizes): {note}",
                80,
            ),
            fontsize=6.5,
            va="top",
            color="0.3",
            transform=ax.transAxes,
        )


def seed_means(points: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, mean loss, seed standard deviation or 0) per size: runs of one size that differ only in seed."""
    sizes = sorted({n for n, _ in points})
    losses = [np.array([loss for n, loss in points if n == size]) for size in sizes]
    return (
        np.array(sizes),
        np.array([v.mean() for v in losses]),
        np.array([v.std(ddof=1) if v.size > 1 else 0.0 for v in losses]),
    )


def budget_colors(count: int) -> list:
    """Distinct colours for up to 10 budgets (tab10, in order), a sequential map beyond."""
    if count <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(count)]
    return [plt.get_cmap("viridis")(i / (count - 1)) for i in range(count)]


def _draw_parabola(ax, points: list[dict], color) -> None:
    """The parabola the analysis fitted (isoflop.local_parabola) over the sizes it used: the ★ is its vertex."""
    log_n = np.log([p["n"] for p in points])
    (a, b, c), (lo, hi) = local_parabola(log_n, np.array([p["loss"] for p in points]))
    x = np.linspace(lo, hi, 60)
    ax.plot(np.exp(x), a * x * x + b * x + c, "-", lw=0.9, color=color)


def _noise_note(ax, noise: dict | None) -> None:
    """Under the profiles: the pooled seed spread and how many adjacent-size differences it swallows."""
    if not noise or noise.get("pooled_sd") is None:
        return
    ax.text(
        0.0,
        -0.22,
        f"error bars: ±1 sd over seeds; pooled seed sd {noise['pooled_sd']:.4f} nats "
        f"({noise['dof']} dof); {noise['below_noise']} of {noise['compared']} adjacent-size "
        f"differences below {noise['z']:.0f} standard errors",
        fontsize=6.5,
        va="top",
        color="0.3",
        transform=ax.transAxes,
    )


def isoflop(
    fits_interp: dict, out: str | Path, provenance: str | None = None, paper: bool = True, noise: dict | None = None
) -> None:
    """Fig. 2: IsoFLOP profiles per budget (left), N_opt(C) and D_opt(C) with fit and bootstrap band. An objective
    whose fit failed (e.g. every minimum at an edge) shows its profiles and the reason instead of a law. Sizes
    trained with several seeds show their mean and ±1 sd; `noise` (per objective, fits.json) adds the seed note."""
    objectives = [o for o in ("clm", "mlm") if o in fits_interp]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(objectives), 3, figsize=(12, 3.5 * len(objectives)), squeeze=False)
        for row, objective in zip(axes, objectives):
            res = fits_interp[objective]
            budgets = sorted({p["c"] for p in res["points"]})
            colors = dict(zip(budgets, budget_colors(len(budgets))))
            for c in budgets:
                n, loss, sd = seed_means([(p["n"], p["loss"]) for p in res["points"] if p["c"] == c])
                row[0].errorbar(n, loss, yerr=sd, fmt="o", ms=3, capsize=2, color=colors[c], label=f"{c:.0e}")
            for b in res["budgets"]:
                if b["status"] == "ok":
                    _draw_parabola(row[0], [p for p in res["points"] if p["c"] == b["c"]], colors[b["c"]])
                    row[0].plot(b["n_opt"], b["loss"], "*", ms=11, color=colors[b["c"]], mec="k", mew=0.5)
                else:
                    best = min((p for p in res["points"] if p["c"] == b["c"]), key=lambda p: p["loss"])
                    row[0].plot(best["n"], best["loss"], "x", ms=8, color="red")
            marks = "★ optimum" + (", × rejected" if any(b["status"] != "ok" for b in res["budgets"]) else "")
            row[0].set(
                xscale="log",
                xlabel="non-embedding parameters N",
                ylabel="validation loss",
                title=f"{OBJ_NAME[objective]} IsoFLOP profiles ({marks})",
            )
            _dropped_note(row[0], res.get("dropped"))
            _noise_note(row[0], (noise or {}).get(objective))
            row[0].legend(title="FLOPs", ncol=2, frameon=False)
            row[0].xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            if "n_opt" not in res:
                for ax in row[1:]:
                    ax.axis("off")
                reason = textwrap.fill(res.get("error", ""), 60)
                row[1].text(
                    0.0, 0.5, f"No power law fitted:\n{reason}", fontsize=8, va="center", transform=row[1].transAxes
                )
                continue
            ok = [b for b in res["budgets"] if b["status"] == "ok"]
            c_ok = np.array([b["c"] for b in ok])
            grid = np.logspace(np.log10(c_ok.min()) - 0.3, np.log10(c_ok.max()) + 0.5, 100)
            for ax, key, label in ((row[1], "n_opt", "N_opt"), (row[2], "d_opt", "D_opt")):
                law = res[key]
                samples = np.array(law.get("samples") or [[law["coef"], law["exponent"]]])
                band = samples[:, :1] * grid[None, :] ** samples[:, 1:]
                lo, hi = np.percentile(band, [2.5, 97.5], axis=0)
                ax.fill_between(grid, lo, hi, color="#4C72B0", alpha=0.2, lw=0, label="95% bootstrap band")
                ci = law["ci95"]
                ax.plot(
                    grid,
                    law["coef"] * grid ** law["exponent"],
                    color="#4C72B0",
                    label=f"{label} ∝ C^{law['exponent']:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]",
                )
                ax.plot(c_ok, [b[key] for b in ok], "o", color="k", ms=4, label="IsoFLOP optima")
                if paper:
                    ref = PAPER_EXPONENTS[objective][key]
                    anchor = law["coef"] * c_ok[0] ** law["exponent"]
                    ax.plot(
                        grid,
                        anchor * (grid / c_ok[0]) ** ref,
                        "--",
                        color="#C44E52",
                        lw=1,
                        label=f"paper exponent {ref}",
                    )
                ax.set(
                    xscale="log",
                    yscale="log",
                    xlabel="compute C (FLOPs)",
                    ylabel=label,
                    title=f"{OBJ_NAME[objective]} {label}(C)",
                )
                ax.legend(frameon=False)
        fig.tight_layout()
        save(fig, out, provenance)


def transfer(table: Table, fits_transfer: dict, out: str | Path, provenance: str | None = None) -> None:
    """Fig. 4: scratch vs transfer loss frontiers against compute, both directions: the runs (faint), their lower
    envelope (dotted; each run's running mean, so evaluation noise does not pull it down) and its power law."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for ax, objective in zip(axes, ("mlm", "clm")):
            res = fits_transfer[objective]["frontiers"]
            for kind, color in (("scratch", "#4C72B0"), ("transfer", "#C44E52")):
                for src in res[kind]["runs"]:
                    t = table.select(source=src)
                    ax.plot(t["x"] * 1e9, t["loss"], color=color, lw=0.6, alpha=0.35)
                c, env = np.array(res[kind]["envelope_c"]), np.array(res[kind]["envelope_loss"])
                fit = res[kind]
                line = fit["coef"] * c ** fit["exponent"]
                rms = float(np.sqrt(np.mean((np.log(env) - np.log(line)) ** 2)))
                ax.plot(c, env, ":", color=color, lw=1.6, label=f"{kind}: best loss at ≤ C (running means)")
                ax.plot(
                    c,
                    line,
                    color=color,
                    lw=2,
                    label=f"{kind} fit: L = {fit['coef']:.2f}·C^{fit['exponent']:.4f} (rms {rms:.1%})",
                )
            ax.set(
                xscale="log",
                xlabel="compute of the run (FLOPs)",
                ylabel="validation loss",
                title=f"{res['direction']} transfer vs training from scratch",
            )
            ax.legend(frameon=False)
        fig.tight_layout()
        save(fig, out, provenance)


def mlm_from_clm(table: Table, out: str | Path, provenance: str | None = None) -> None:
    """Fig. 5 (right): MLM trained from scratch vs initialised from a CLM, per model size."""
    curves = _curves(table, MLM_FROM_CLM_PREFIX)
    sizes = sorted({size_label(PurePath(s).name) for s in curves}, key=parameters)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(sizes), figsize=(2.6 * len(sizes), 2.8), squeeze=False)
        for ax, label in zip(axes[0], sizes):
            for src, t in curves.items():
                if size_label(PurePath(src).name) != label:
                    continue
                kind = "CLM-initialised" if is_transfer(src) else "scratch"
                ax.plot(t["x"], t["loss"], lw=1.2, label=kind, color="#C44E52" if is_transfer(src) else "#4C72B0")
            lows = [float(t["loss"].min()) for s, t in curves.items() if size_label(PurePath(s).name) == label]
            ax.set(xscale="log", xlabel="MLM tokens", title=f"MLM {label}", ylim=(min(lows) - 0.02, min(lows) + 0.5))
        axes[0][0].set_ylabel("validation loss")
        axes[0][0].legend(frameon=False)
        fig.tight_layout()
        save(fig, out, provenance)


def mask_ratio(table: Table, out: str | Path, provenance: str | None = None) -> None:
    """Mask-ratio ablation: validation loss curves per ratio and final loss against the ratio."""
    curves = _curves(table, "mask_ratio_data/")
    sizes = sorted({t["size_label"][0] for t in curves.values()}, key=parameters)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(sizes) + 1, figsize=(4 * (len(sizes) + 1), 3.3))
        for ax, label in zip(axes, sizes):
            runs = sorted(
                ((float(PurePath(s).stem.split("_")[1]), t) for s, t in curves.items() if t["size_label"][0] == label),
                key=lambda r: r[0],
            )
            colours = budget_colors(len(runs))  # one distinct colour per ratio
            for (ratio, t), colour in zip(runs, colours):
                ax.plot(t["x"], t["loss"], lw=1, color=colour, label=f"{ratio:.0%}")
            finals = [float(t["loss"][-1]) for _, t in runs]
            ax.set(
                xlabel="training steps",
                ylabel="validation loss",
                title=f"MLM {label}: mask ratio",
                ylim=(min(finals) - 0.05, max(finals) + 0.35),
            )
            ax.legend(ncol=2, frameon=False)
            axes[-1].plot([r for r, _ in runs], finals, "o-", label=f"MLM {label}")
        axes[-1].set(
            xlabel="mask ratio",
            ylabel="final validation loss",
            title="Final loss (not comparable across ratios:\nthe task gets harder as more is masked)",
        )
        axes[-1].legend(frameon=False)
        fig.tight_layout()
        save(fig, out, provenance)


def isoloss(fits_parametric: dict, out: str | Path, provenance: str | None = None) -> None:
    """IsoLoss contours of the parametric law over (C, N), with its compute-optimal frontier."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        c = np.logspace(17, 23, 200)
        n = np.logspace(6, 11, 200)
        cc, nn = np.meshgrid(c, n)
        for ax, objective in zip(axes, ("clm", "mlm")):
            law = fits_parametric[objective]
            loss = predict(law, nn, cc / (6 * nn))
            levels = matplotlib.ticker.MaxNLocator(14).tick_values(loss.min(), np.quantile(loss, 0.98))
            cs = ax.contourf(cc, nn, loss, levels=levels, cmap="viridis_r", extend="max")
            fig.colorbar(cs, ax=ax, label="predicted loss", format="%.2f")
            n_opt, _ = compute_optimal(law, c)
            inside = (n_opt >= n[0]) & (n_opt <= n[-1])  # the frontier where the contours are drawn
            ax.plot(c[inside], n_opt[inside], color="k", lw=2, label="compute-optimal N")
            ax.set(xscale="log", yscale="log", xlabel="compute C (FLOPs)", ylabel="parameters N")
            ax.set(xlim=(c[0], c[-1]), ylim=(n[0], n[-1]))
            title = (
                f"{OBJ_NAME[objective]}: L = {law['E']:.2f} + {law['A']:.3g}/N^{law['alpha']:.2f} + "
                f"{law['B']:.3g}/D^{law['beta']:.2f}"
            )
            if not identified(law):
                title += "\n(poorly identified: a parameter's interval is as wide as its value; see Table 2)"
            ax.set_title(title, fontsize=8)
            ax.legend(loc="lower right", facecolor="white", framealpha=0.9)
        fig.tight_layout()
        save(fig, out, provenance)


from ..names import PAPER_FIGURES  # noqa: E402


def draw_paper_figure(name: str, load_table, fits: dict, out: str | Path, provenance: str | None = None) -> None:
    """One of PAPER_FIGURES by name; `load_table()` gives the tidy table, read only by figures drawn from curves."""
    if name == "isoflop":
        isoflop(fits["interp"], out, provenance)
    elif name == "isoloss":
        isoloss(fits["parametric"], out, provenance)
    elif name == "transfer":
        transfer(load_table(), fits["transfer"], out, provenance)
    elif name in PAPER_FIGURES:
        {"repeated_data": repeated_data, "mlm_from_clm": mlm_from_clm, "mask_ratio": mask_ratio}[name](
            load_table(), out, provenance
        )
    else:
        raise ValueError(f"unknown paper figure {name!r} ({', '.join(PAPER_FIGURES)})")
