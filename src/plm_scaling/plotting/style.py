"""What every figure shares: the matplotlib style, colours, the writer that embeds provenance, seed means."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

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
    "svg.hashsalt": "plm-scaling",  # fixed ids (default: random): the same figure gives the same SVG bytes
}
OBJ_NAME = {"clm": "CLM", "mlm": "MLM"}


def save(fig, out_png: str | Path, provenance: str | None = None) -> None:
    """PNG at `out_png` and SVG beside it, both written atomically. `provenance` (a JSON text) goes inside both
    files: a PNG text chunk "Provenance" and the SVG's Dublin Core description."""
    png = Path(out_png)
    png_meta = {"Software": "plm-scaling", **({"Provenance": provenance} if provenance else {})}
    svg_meta = {"Creator": "plm-scaling", "Date": None, **({"Description": provenance} if provenance else {})}
    with atomic_outputs(png, png.with_suffix(".svg")) as (tmp_png, tmp_svg):
        fig.savefig(tmp_png, format="png", dpi=150, bbox_inches="tight", metadata=png_meta)
        fig.savefig(tmp_svg, format="svg", bbox_inches="tight", metadata=svg_meta)
    plt.close(fig)


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
    """Distinct colours: tab10 for up to 10 budgets, tab20 (paired shades) up to 20, a sequential map beyond."""
    if count <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(count)]
    if count <= 20:
        return [plt.get_cmap("tab20")(i) for i in range(count)]
    return [plt.get_cmap("viridis")(i / (count - 1)) for i in range(count)]
