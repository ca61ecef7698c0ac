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

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..data.shards import Shard
from ..data.vocab import AUX_OFFSET, CLS, EOS, MASK, RESIDUE_IDS
from ..io import read_json
from ..model.transformer import IGNORE


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
        return self.windows(np.array([start]), stop - start)[0]

    def windows(self, starts: np.ndarray, span: int) -> np.ndarray:
        """The windows stream[a : a + span] for every a in `starts` (each within the stream), as one (len(starts),
        span) array: a batch cut in a few array operations instead of one slice per sample."""
        starts = np.asarray(starts, dtype=np.int64)
        first = np.searchsorted(self.starts, starts, side="right") - 1  # each row's first and last record: two
        entered = np.searchsorted(self.starts, starts + span - 1, side="right") - 1 - first  # searches a row
        # the records a row enters after its first: a 1 where each begins, and a running sum numbers them
        row = np.repeat(np.arange(starts.size), entered)
        begun = np.repeat(first + 1 - (np.cumsum(entered) - entered), entered) + np.arange(entered.sum())
        steps = np.zeros((starts.size, span), dtype=np.int64)
        steps[row, self.starts[begun] - starts[row]] = 1
        record = first[:, None] + np.cumsum(steps, axis=1)
        within = starts[:, None] + np.arange(span) - self.starts[record]  # 0: <cls>; 1..length: residues; <eos>
        first = self.offsets[record]
        residue = (within > 0) & (within <= self.offsets[record + 1] - first)
        block = np.where(within == 0, CLS, EOS).astype(np.uint8)
        block[residue] = self.tokens[(first + within - 1)[residue]]
        return block


def unique_train_tokens(manifest: dict) -> int:
    """U: the train part's size in the units of D, framed tokens (residues and each sequence's <cls>, <eos>)."""
    train = manifest["splits"]["train"]
    return int(train["tokens"]) + 2 * int(train["sequences"])


def mask_tokens(window: np.ndarray, rng: np.random.Generator, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """BERT/ESM masking: choose `ratio` of the residue positions (at least one); of those, 80% become <mask>,
    10% a random residue, 10% stay. Targets are the original tokens there, IGNORE elsewhere."""
    inputs, targets = window.astype(np.int64), np.full(window.shape, IGNORE, dtype=np.int64)
    candidates = np.flatnonzero((window != CLS) & (window != EOS))
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

    def draw(self, i: int) -> tuple[bool, int, np.random.Generator]:
        """Where sample i comes from: whether it is auxiliary text, its start, and its generator (seeded by
        (seed, i)), from which its mask is drawn next."""
        rng = np.random.default_rng([self.seed, int(i)])
        if self.aux is not None and rng.random() < self.aux_fraction:  # drawn only when augmenting
            return True, int(rng.integers(0, self.aux.size - self.span + 1)), rng
        return False, int(rng.integers(0, self.stream.size - self.span + 1)), rng

    def __getitems__(self, indices: list[int]) -> dict:
        """The batch of samples `indices` (DataLoader calls this instead of one __getitem__ a sample): every sample
        exactly as drawn alone, the windows cut for the whole batch at once (the loop's cost at batch 64 was
        mostly one slice and one tensor a sample; benchmarks/bench_loop.py)."""
        draws = [self.draw(i) for i in indices]
        is_aux = np.array([d[0] for d in draws], dtype=bool)
        starts = np.array([d[1] for d in draws], dtype=np.int64)
        windows = np.empty((len(draws), self.span), dtype=np.int64)
        windows[~is_aux] = self.stream.windows(starts[~is_aux], self.span)
        if is_aux.any():
            windows[is_aux] = self.aux[starts[is_aux, None] + np.arange(self.span)].astype(np.int64) + AUX_OFFSET
        return self.examples(windows, [d[2] for d in draws])

    def __getitem__(self, i: int) -> dict:
        return {key: batch[0] for key, batch in self.__getitems__([i]).items()}

    def examples(self, windows: np.ndarray, rngs: list[np.random.Generator]) -> dict:
        """Inputs and targets of a batch of windows (batch, span): shifted (CLM) or masked, each row with its own
        generator (MLM)."""
        if self.objective == "clm":
            return {
                "inputs": torch.from_numpy(windows[:, :-1].copy()),
                "targets": torch.from_numpy(windows[:, 1:].copy()),
            }
        inputs, targets = zip(*(mask_tokens(w, rng, self.mask_ratio) for w, rng in zip(windows, rngs)))
        return {"inputs": torch.from_numpy(np.stack(inputs)), "targets": torch.from_numpy(np.stack(targets))}


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

    def draw(self, i: int) -> tuple[bool, int, np.random.Generator]:
        tile = int(self.index[i])
        return False, tile * self.context, np.random.default_rng([self.seed, 1, tile])


def already_batched(batch: dict) -> dict:
    """The DataLoader's collate function: the datasets above return whole batches (__getitems__)."""
    return batch


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


class ShardLoaders:
    """The DataLoaders of a data stage's splits: training (StepSampler), validation (a fixed tiled subset),
    evaluation (every tile of a split). Plain PyTorch, not a LightningDataModule: `evaluate` and perplexity
    scoring then start without importing Lightning (~4 s of a job's start-up)."""

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
            collate_fn=already_batched,
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
        return DataLoader(ds, batch_size=self.batch_size, collate_fn=already_batched)

    def eval_dataloader(self, split: str, batch_size: int = 64) -> DataLoader:
        ds = TiledDataset(self.stream(split), self.context, self.objective, self.mask_ratio, self.eval_seed)
        return DataLoader(ds, batch_size=batch_size, collate_fn=already_batched)
