"""Perplexity filtering: score every train sequence with a finished CLM run of this workflow (the reference) and
keep a band of perplexities, as data-scarcity mitigations do (drop the most surprising q%, or keep the middle).

Scoring streams the framed train split (`<cls> residues <eos>` back to back, as training saw it) in consecutive
windows of the reference's context, batched: each residue and `<eos>` is predicted once, from the tokens before it
in its window (a window may start inside a sequence: its first targets then see less context, as in training). A
sequence's perplexity is exp(mean negative log-likelihood of its residues and `<eos>`).
"""

from __future__ import annotations

import csv
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.shards import Shard, shard_paths, write_rows
from ..digests import seal_manifest
from ..io import atomic_outputs, read_json, sha256_file, write_json
from .data import FramedStream


def _read_run(run_dir: Path) -> dict:
    """The run.json of a finished run, with the keys filtering reads; anything else is one line naming it."""
    path = run_dir / "run.json"
    if not path.exists():
        raise ValueError(f"{run_dir}: not a finished run of this workflow (no run.json); name its run folder")
    try:
        done = read_json(path)
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path}: not a JSON file ({err})") from None
    if not isinstance(done, dict):
        raise ValueError(f"{path}: not a run record (a JSON object)")
    for key in ("objective", "sweep_point"):
        if not isinstance(done.get(key), str):
            raise ValueError(f"{path}: key {key} missing or not text (not a finished run of this workflow)")
    context = done["shape"].get("context") if isinstance(done.get("shape"), dict) else None
    if isinstance(context, bool) or not isinstance(context, int) or context < 2:
        raise ValueError(f"{path}: key shape.context missing or not a whole number >= 2")
    return done


def load_reference(run_dir: str | Path):
    """(model, run.json) of a finished CLM run; weights only, never code, from the run folder (evaluate.py's
    loader: a file that is no such checkpoint is one line naming it)."""
    from .evaluate import load_model

    run_dir = Path(run_dir)
    done = _read_run(run_dir)
    if done["objective"] != "clm":
        raise ValueError(f"{run_dir}: a {done['objective']} run; perplexity filtering needs a CLM reference run")
    return load_model(run_dir / "final.ckpt", "cpu"), done


def _windows(stream: FramedStream, context: int, start: int, count: int) -> tuple[torch.Tensor, np.ndarray]:
    """`count` windows of context + 1 tokens from stream position start, each overlapping the next by one, and
    their lengths (the stream's end cuts the last ones short; zeros pad them)."""
    width = context + 1
    starts = start + context * np.arange(count)
    lengths = np.minimum(width, stream.size - starts)
    rows = np.zeros((count, width), dtype=np.uint8)
    full = lengths == width
    rows[full] = stream.windows(starts[full], width)
    for i in np.flatnonzero(~full):
        rows[i, : lengths[i]] = stream[starts[i] : starts[i] + width]
    return torch.from_numpy(rows.astype(np.int64)), lengths


@torch.no_grad()
def score_shard(model, shard: Shard, context: int, batch: int = 256, progress=None) -> np.ndarray:
    """Sum of the NLL (nats) of each sequence's residues and <eos>, one value per record."""
    stream = FramedStream(shard)
    nll = np.zeros(len(shard))
    starts = np.asarray(stream.starts)
    position = 0
    while position < stream.size - 1:
        count = min(batch, math.ceil((stream.size - 1 - position) / context))
        tokens, lengths = _windows(stream, context, position, count)
        logits = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.transpose(1, 2).float(), tokens[:, 1:], reduction="none").numpy()
        target_pos = position + 1 + np.arange(count)[:, None] * context + np.arange(context)[None, :]
        valid = (np.arange(context)[None, :] < (lengths - 1)[:, None]) & np.isin(
            target_pos, starts, invert=True
        )  # padding and the <cls> that opens the next sequence are no sequence's targets
        owner = np.searchsorted(starts, target_pos[valid], side="right") - 1
        np.add.at(nll, owner, loss[valid])
        position += count * context
        if progress:
            progress(min(position, stream.size), stream.size)
    return nll


MAX_DROP = 0.9  # a filter keeps at least a tenth of the train part: dropping more leaves a handful of sequences


def band(perplexity: np.ndarray, drop_top: float, drop_bottom: float) -> tuple[float, float]:
    """(low, high) perplexity thresholds: the drop_bottom and 1 - drop_top quantiles (inclusive band)."""
    if not (0 <= drop_top < 1 and 0 <= drop_bottom < 1 and drop_top + drop_bottom < 1):
        raise ValueError(
            f"filter band: need 0 <= drop_top, drop_bottom and their sum < 1, got {drop_top}, {drop_bottom}"
        )
    if drop_top + drop_bottom > MAX_DROP:
        raise ValueError(
            f"filter band: --drop-top {drop_top} and --drop-bottom {drop_bottom} drop more than {MAX_DROP:g} of the "
            f"train sequences; keep at least {1 - MAX_DROP:.0%} of them"
        )
    return float(np.quantile(perplexity, drop_bottom)), float(np.quantile(perplexity, 1 - drop_top))


def _progress(interactive: bool):
    """A progress callback: a rich bar on a terminal, a log line every 10% otherwise."""
    if interactive:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("scoring tokens", total=None)
        return lambda done, total: bar.update(task, completed=done, total=total) or (done == total and bar.stop())
    marks = set()

    def log(done: int, total: int) -> None:
        tenth = int(10 * done / total)
        if tenth not in marks:
            marks.add(tenth)
            print(f"scored {done:,} of {total:,} tokens", file=sys.stderr, flush=True)

    return log


def _write_scores(path: Path, ids: list[str], lengths: np.ndarray, ppl: np.ndarray, keep: np.ndarray) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "length", "perplexity", "kept"])
        for row in zip(ids, lengths.tolist(), ppl.tolist(), keep.tolist()):
            w.writerow([row[0], row[1], f"{row[2]:.6g}", int(row[3])])


def filter_split(
    split_dir, out_dir, reference: str | Path, drop_top: float, drop_bottom: float = 0.0, threads: int = 1
) -> dict:
    """Write the split with its train part filtered by the reference's perplexity (valid and test as they are),
    `scores.csv` (every train sequence's perplexity and whether it was kept), `scores.png` and a manifest whose
    `filter` entry names the reference run (folder, MLflow run id, checkpoint sha256), the band and the counts.
    The manifest's train counts are those kept; its clusters are the train part's MMseqs2 clusters (at the split's
    own parameters) that keep a member."""
    from ..data.shards import read_ids
    from ..data.stats import plot_scores
    from ..data.subset import train_clusters

    split_dir, out, reference = Path(split_dir), Path(out_dir), Path(reference)
    band(np.array([1.0]), drop_top, drop_bottom)  # the band's bounds checked before any work
    model, done = load_reference(reference)
    manifest = read_json(split_dir / "manifest.json")
    train = Shard.open(split_dir / "train")
    t0 = time.perf_counter()
    nll = score_shard(model, train, int(done["shape"]["context"]), progress=_progress(sys.stderr.isatty()))
    seconds = time.perf_counter() - t0
    lengths = train.lengths()
    ppl = np.exp(nll / (lengths + 1))  # residues and <eos>
    low, high = band(ppl, drop_top, drop_bottom)
    keep = (ppl >= low) & (ppl <= high)
    outputs = [p for s in ("train", "valid", "test") for p in shard_paths(out / s)]
    with atomic_outputs(*outputs, out / "scores.csv", out / "scores.png", out / "manifest.json") as temps:
        kept = write_rows(train, split_dir / "train.ids.txt", keep, temps[:3])
        for k, name in enumerate(("valid", "test"), start=1):
            for src, dst in zip(shard_paths(split_dir / name), temps[3 * k : 3 * k + 3]):
                shutil.copyfile(src, dst)
        _write_scores(temps[9], read_ids(split_dir / "train.ids.txt"), lengths, ppl, keep)
        plot_scores(ppl, low, high, temps[10])
        info = {
            "reference_run": str(reference.resolve()),
            "reference_mlflow_run_id": done.get("run_id"),
            "reference_sweep_point": done["sweep_point"],
            "reference_checkpoint_sha256": sha256_file(reference / "final.ckpt"),
            "drop_top": drop_top,
            "drop_bottom": drop_bottom,
            "perplexity_low": low,
            "perplexity_high": high,
            "sequences_scored": len(train),
            "sequences_kept": kept["sequences"],
            "residues_per_s": float(lengths.sum() / seconds),
        }
        rep = train_clusters(train, manifest["parameters"], threads)
        info.update(clusters_scored=int(np.unique(rep).size), clusters_kept=int(np.unique(rep[keep]).size))
        manifest["splits"]["train"] = {**kept, "clusters": info["clusters_kept"]}
        finals = [*outputs, out / "scores.csv", out / "scores.png"]
        write_json(temps[11], seal_manifest({**manifest, "filter": info}, temps, finals, split_dir / "manifest.json"))
    return info
