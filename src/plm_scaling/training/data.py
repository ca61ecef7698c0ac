"""Training data over the data stage's shards.

Each split becomes one stream of framed sequences, `<cls> residues <eos> <cls> residues <eos> ...`; a training
sample is a random window of `context` tokens from it (CLM: `context + 1`, shifted for next-token targets). Long
sequences are therefore cropped at a random place rather than dropped, and short ones are packed.

Determinism: sample i is drawn from a generator seeded by (seed, i), masks too, so a batch depends only on its
position in the run. The sampler hands out the indices of the next steps counted from the trainer's global step (an
"epoch" here is the stretch between two validations); a resumed run sees exactly the batches it would have seen.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..data.shards import Shard
from ..data.vocab import AUX_OFFSET, CLS, EOS, MASK, RESIDUE_IDS
from ..io import read_json

IGNORE = -100


class FramedStream:
    """All sequences of a shard with <cls> before and <eos> after each, back to back, as a read-only uint8 sequence
    that is never built: `stream[a:b]` is cut from the memory-mapped shard on demand. Memory: 8 bytes a record
    (where each framed record starts, for a binary search), not a byte a token (UniRef50: 5e8 bytes, not 1.4e10)."""

    def __init__(self, shard: Shard):
        # plain ndarray views of the maps: np.memmap's per-slice bookkeeping would cost more than the window itself
        self.tokens, self.offsets = (np.asarray(a).view(np.ndarray) for a in (shard.tokens, shard.offsets))
        self.starts = self.offsets[:-1] + 2 * np.arange(len(shard))  # record i's <cls> position
        self.size = int(self.offsets[-1]) + 2 * len(shard)

    def __getitem__(self, window: slice) -> np.ndarray:
        start, stop, _ = window.indices(self.size)
        if stop <= start:
            return np.empty(0, dtype=np.uint8)
        first, last = np.searchsorted(self.starts, [start, stop - 1], side="right") - 1  # records it touches
        offsets, base = self.offsets, int(self.starts[first])
        records = np.arange(first, last + 1)
        cls = self.starts[first : last + 1] - base
        eos = offsets[first + 1 : last + 2] + 2 * records + 1 - base
        block = np.empty(int(eos[-1]) + 1, dtype=np.uint8)  # those records, framed
        residue = np.ones(block.size, dtype=bool)
        residue[cls] = residue[eos] = False
        block[cls], block[eos] = CLS, EOS
        block[residue] = self.tokens[offsets[first] : offsets[last + 1]]
        return block[start - base : stop - base]


def unique_train_tokens(manifest: dict) -> int:
    """U: the train part's size in the units of D, framed tokens (residues and each sequence's <cls>, <eos>)."""
    train = manifest["splits"]["train"]
    return int(train["tokens"]) + 2 * int(train["sequences"])


def mask_tokens(window: np.ndarray, rng: np.random.Generator, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """BERT/ESM masking: choose `ratio` of the residue positions (at least one); of those, 80% become <mask>,
    10% a random residue, 10% stay. Targets are the original tokens there, IGNORE elsewhere."""
    inputs, targets = window.astype(np.int64), np.full(window.shape, IGNORE, dtype=np.int64)
    candidates = np.flatnonzero(~np.isin(window, (CLS, EOS)))
    if candidates.size == 0:
        return inputs, targets
    k = max(1, int(round(ratio * candidates.size)))
    chosen = rng.choice(candidates, size=k, replace=False)
    targets[chosen] = inputs[chosen]
    roll = rng.random(k)
    inputs[chosen[roll < 0.8]] = MASK
    swap = chosen[(roll >= 0.8) & (roll < 0.9)]
    inputs[swap] = rng.choice(RESIDUE_IDS, size=swap.size)
    return inputs, targets


class WindowDataset(Dataset):
    """Sample i: a window at a position drawn from (seed, i); for MLM, masked with the same generator. With an
    auxiliary corpus (code augmentation), sample i is a window of it instead with probability `aux_fraction`, so
    that share of the training tokens is auxiliary text (tokens AUX_OFFSET + byte)."""

    def __init__(
        self,
        stream: FramedStream,
        context: int,
        objective: str,
        mask_ratio: float,
        seed: int,
        aux: np.ndarray | None = None,
        aux_fraction: float = 0.0,
    ):
        span = context + 1 if objective == "clm" else context
        if stream.size <= span:
            raise ValueError(f"split has {stream.size} tokens, fewer than one window of {span}")
        if aux is not None and aux.size <= span:
            raise ValueError(f"aux corpus has {aux.size} bytes, fewer than one window of {span}")
        self.stream, self.context, self.objective = stream, context, objective
        self.mask_ratio, self.seed, self.span = mask_ratio, seed, span
        self.aux, self.aux_fraction = aux, aux_fraction

    def __len__(self) -> int:  # indices are unbounded; the sampler decides how many are drawn
        return 2**62

    def window(self, rng: np.random.Generator) -> np.ndarray:
        start = int(rng.integers(0, self.stream.size - self.span + 1))
        return self.stream[start : start + self.span]

    def example(self, window: np.ndarray, rng: np.random.Generator) -> dict:
        if self.objective == "clm":
            return {
                "inputs": torch.from_numpy(window[:-1].astype(np.int64)),
                "targets": torch.from_numpy(window[1:].astype(np.int64)),
            }
        inputs, targets = mask_tokens(window, rng, self.mask_ratio)
        return {"inputs": torch.from_numpy(inputs), "targets": torch.from_numpy(targets)}

    def aux_window(self, rng: np.random.Generator) -> np.ndarray:
        start = int(rng.integers(0, self.aux.size - self.span + 1))
        return self.aux[start : start + self.span].astype(np.int64) + AUX_OFFSET

    def __getitem__(self, i: int) -> dict:
        rng = np.random.default_rng([self.seed, int(i)])
        if self.aux is not None and rng.random() < self.aux_fraction:  # drawn only when augmenting
            return self.example(self.aux_window(rng), rng)
        return self.example(self.window(rng), rng)


class TiledDataset(WindowDataset):
    """Consecutive windows covering the whole stream once (evaluation); masks from a fixed seed."""

    def __init__(self, stream, context, objective, mask_ratio, seed, limit: int | None = None):
        super().__init__(stream, context, objective, mask_ratio, seed)
        self.n = (stream.size - 1) // context if objective == "clm" else stream.size // context
        if limit is not None:  # evenly spaced subset: a fixed held-out sample for validation during training
            self.index = np.linspace(0, self.n - 1, min(limit, self.n)).astype(np.int64)
        else:
            self.index = np.arange(self.n)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        start = int(self.index[i]) * self.context
        rng = np.random.default_rng([self.seed, 1, int(self.index[i])])
        return self.example(self.stream[start : start + self.span], rng)


class StepSampler(Sampler[int]):
    """Indices of the samples of the next `steps` optimiser steps, counted from the trainer's global step when
    iteration starts (this rank's share). Keyed on the step, not on an epoch counter, a resumed run draws exactly
    the samples the uninterrupted one drew, whatever the loop's epoch bookkeeping says."""

    def __init__(self, steps: int, batch_size: int, global_step=lambda: 0):
        self.steps, self.batch_size, self.global_step = steps, batch_size, global_step

    def _world(self) -> tuple[int, int]:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def __iter__(self):
        rank, world = self._world()
        base = int(self.global_step()) * self.batch_size * world  # global samples already consumed
        return iter(range(base + rank, base + self.steps * self.batch_size * world, world))

    def __len__(self) -> int:
        return self.steps * self.batch_size


class ShardDataModule(L.LightningDataModule):
    def __init__(
        self,
        manifest: str | Path,
        context: int,
        objective: str,
        mask_ratio: float,
        seed: int,
        batch_size: int,
        steps_per_epoch: int,
        valid_windows: int,
        eval_seed: int = 12345,
        global_step=lambda: 0,
        workers: int = 0,
        aux_corpus: str | Path | None = None,
        aux_fraction: float = 0.0,
    ):
        super().__init__()
        self.split_dir = Path(manifest).parent
        self.manifest = read_json(manifest)
        self.context, self.objective, self.mask_ratio, self.seed = context, objective, mask_ratio, seed
        self.batch_size, self.steps_per_epoch, self.valid_windows = batch_size, steps_per_epoch, valid_windows
        self.eval_seed, self.global_step, self.workers = eval_seed, global_step, workers
        self._streams: dict[str, FramedStream] = {}
        # code augmentation: training windows only; validation and evaluation stay on protein data
        self.aux = np.memmap(aux_corpus, dtype=np.uint8, mode="r") if aux_corpus and aux_fraction > 0 else None
        self.aux_fraction = aux_fraction

    def stream(self, split: str) -> FramedStream:
        if split not in self._streams:
            shard = Shard.open(self.split_dir / split)
            if len(shard) == 0:
                raise ValueError(f"data split {self.split_dir / split}: no sequences (see its manifest.json)")
            self._streams[split] = FramedStream(shard)
        return self._streams[split]

    def train_dataloader(self) -> DataLoader:
        ds = WindowDataset(
            self.stream("train"), self.context, self.objective, self.mask_ratio, self.seed, self.aux, self.aux_fraction
        )
        sampler = StepSampler(self.steps_per_epoch, self.batch_size, self.global_step)
        # Workers draw windows and masks ahead of the step (samples depend on their index only, so results do not
        # change); pinned memory lets the copy to a GPU overlap compute.
        return DataLoader(
            ds,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.workers,
            persistent_workers=self.workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def val_dataloader(self) -> DataLoader:
        ds = TiledDataset(
            self.stream("valid"),
            self.context,
            self.objective,
            self.mask_ratio,
            self.eval_seed,
            limit=self.valid_windows,
        )
        return DataLoader(ds, batch_size=self.batch_size)

    def eval_dataloader(self, split: str, batch_size: int = 64) -> DataLoader:
        ds = TiledDataset(self.stream(split), self.context, self.objective, self.mask_ratio, self.eval_seed)
        return DataLoader(ds, batch_size=batch_size)
