"""Per-dataset statistics figure: sequence length distribution and residue composition, per split."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from ..io import atomic_outputs, read_json  # noqa: E402
from .shards import Shard  # noqa: E402
from .split import SPLITS  # noqa: E402
from .vocab import INDEX, RESIDUES  # noqa: E402

_COLORS = {"train": "#4C72B0", "valid": "#DD8452", "test": "#55A868"}


def composition(shard: Shard) -> np.ndarray:
    """Fraction of each residue in RESIDUES, counted in chunks so a large shard is never loaded whole."""
    counts = np.zeros(256, dtype=np.int64)
    step = 64 << 20
    for start in range(0, shard.tokens.size, step):
        counts += np.bincount(shard.tokens[start : start + step], minlength=256)
    residue_counts = counts[[INDEX[r] for r in RESIDUES]]
    return residue_counts / max(1, residue_counts.sum())


def plot_stats(split_dir: str | Path, out_png: str | Path) -> None:
    split_dir = Path(split_dir)
    manifest = read_json(split_dir / "manifest.json")
    fig, (ax_len, ax_comp) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1, 1.6]})
    shards = {s: Shard.open(split_dir / s) for s in SPLITS}
    longest = max(int(sh.lengths().max()) for sh in shards.values() if len(sh))
    bins = np.logspace(np.log10(max(1, manifest["clean"]["min_length"])), np.log10(longest + 1), 50)
    bins[0] = max(1, manifest["clean"]["min_length"])  # 10**log10(20) is 20 + 4e-15: it dropped every 20-mer
    width = 0.8 / len(SPLITS)
    x = np.arange(len(RESIDUES))
    for k, (name, shard) in enumerate(shards.items()):
        if not len(shard):
            continue
        info = manifest["splits"][name]
        label = f"{name} ({info['sequences']:,} seqs, {info['clusters']:,} clusters)"
        lengths = shard.lengths()
        ax_len.hist(
            lengths,
            bins=bins,
            weights=np.full(lengths.size, 1 / lengths.size),
            histtype="step",
            lw=1.6,
            color=_COLORS[name],
            label=label,
        )
        ax_comp.bar(x + (k - 1) * width, composition(shard), width, color=_COLORS[name], label=name)
    ax_len.set(
        xscale="log", xlabel="sequence length (residues)", ylabel="fraction of sequences", title="Length distribution"
    )
    ax_len.legend(fontsize=8, frameon=False)
    ax_comp.set(xticks=x, xticklabels=list(RESIDUES), ylabel="fraction of residues", title="Residue composition")
    ax_comp.set_yscale("log")
    ax_comp.legend(fontsize=8, frameon=False)
    title = (
        f"Dataset {manifest['dataset'] or split_dir.name}: {manifest['clusters_total']:,} clusters at "
        f"{manifest['parameters']['identity']:.0%} identity"
    )
    d = manifest.get("dedup")
    if d:  # what deduplication removed, within each split
        title += (
            f"\ndeduplicated: {d['exact_removed']:,} exact and {d['near_removed']:,} near duplicates "
            f"(≥ {d['identity']:.0%} identity, {d['coverage']:.0%} coverage) removed of {d['records_in']:,}"
        )
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    with atomic_outputs(out_png) as (tmp,):
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def plot_scores(perplexity: np.ndarray, low: float, high: float, out_png: str | Path) -> None:
    """Histogram of the train sequences' perplexities under the reference model, the kept band marked."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    bins = np.logspace(np.log10(perplexity.min()), np.log10(perplexity.max()), 60)
    bins[[0, -1]] = perplexity.min(), perplexity.max()  # exactly: log10's rounding dropped an end (~40% of inputs)
    ax.hist(perplexity, bins=bins, color="#4C72B0")
    for cut, side in ((low, "low"), (high, "high")):
        if cut <= perplexity.min() or cut >= perplexity.max():
            continue  # no cut on that side (nothing dropped there)
        ax.axvline(cut, color="#C44E52", lw=1.2)
        ax.text(cut, ax.get_ylim()[1] * 0.95, f" {side} cut {cut:.3g}", color="#C44E52", fontsize=8, va="top")
    kept = float(((perplexity >= low) & (perplexity <= high)).mean())
    ax.set(xscale="log", xlabel="perplexity under the reference model", ylabel="train sequences")
    ticks = matplotlib.ticker.MaxNLocator(8).tick_values(perplexity.min(), perplexity.max())
    ax.set_xticks([t for t in ticks if t > 0], [f"{t:g}" for t in ticks if t > 0])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_title(f"Perplexity filter: {kept:.1%} of {perplexity.size:,} sequences kept", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120, format="png")
    plt.close(fig)
