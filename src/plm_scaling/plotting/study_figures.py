"""Figures of the study kinds beyond IsoFLOP (drawn from a study's fits.json only): the mask-ratio study."""

from __future__ import annotations

from pathlib import Path

import matplotlib.ticker
import numpy as np

from .figures import STYLE, plt, save, seed_means


def mask_ratio_study(fit: dict, out: str | Path, provenance: str | None = None) -> None:
    """MLM loss against the training mask ratio, per size and budget: at the common ratio (solid, comparable; the
    parabola's best ratio with its 95% interval shaded, circles on the ratios within the noise of the best) and at
    each run's own ratio (dashed, a different task per ratio)."""
    fits = fit["fits"]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(fits), figsize=(3.6 * len(fits), 3.2), squeeze=False, sharey=True)
        for ax, f in zip(axes[0], fits):
            r, common, sd = seed_means(list(zip(f["ratios"], f["losses"])))
            ax.errorbar(r, common, yerr=sd, fmt="o-", ms=3, capsize=2, color="#4C72B0",
                        label=f"at common ratio {fit['common_mask_ratio']:.2f} (mean ±1 sd over seeds)")  # fmt: skip
            ax.plot(r, seed_means(list(zip(f["ratios"], f["own_ratio_losses"])))[1], "s--", ms=3, color="0.5",
                    label="at its own ratio")  # fmt: skip
            near = f.get("near_best") or []
            ax.plot(near, [common[list(r).index(x)] for x in near], "o", ms=8, mfc="none", color="#C44E52",
                    label="within 2 SE of the best")  # fmt: skip
            ratios = np.array(f["ratios"])
            if f["status"] == "ok":
                ci = f["ci95"]
                if ci:
                    ax.axvspan(*ci, color="#4C72B0", alpha=0.15, lw=0)
                interval = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "(no interval: no noise estimate)"
                ax.axvline(f["best"], color="#4C72B0", lw=1, label=f"best {f['best']:.3f} {interval}")
            title = f"N = {f['n']:,.0f}, C = {f['c']:.0e}" + ("" if f["status"] == "ok" else f" ({f['status']})")
            ax.set(xscale="log", xlabel="training mask ratio", title=title)
            ax.set_xticks(np.unique(ratios), [f"{r:g}" for r in np.unique(ratios)])
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.legend(frameon=False, loc="upper center")
        axes[0][0].set_ylabel("MLM validation loss")
        fig.tight_layout()
        save(fig, out, provenance)
