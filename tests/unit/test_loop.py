"""The training loop's own work: batches cut at once but each sample as drawn alone, metrics logged every few steps
straight to the logger, and the clock that says where a run's time went (benchmarks/bench_loop.py reads it)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from mlflow import MlflowClient

from plm_scaling.data import vocab
from plm_scaling.data.shards import Shard
from plm_scaling.training.data import FramedStream, TiledDataset, WindowDataset, mask_tokens
from plm_scaling.training.recipe import lr_factor
from plm_scaling.training.run_clock import PHASES

from ..conftest import cli, tiny_overrides


def test_a_batch_of_windows_is_the_slices_of_the_framed_stream(small_manifest):
    """FramedStream.windows cuts a whole batch in a few array operations; every row must be the slice of the
    stream built the plain way, at record boundaries, the first and the last position included."""
    shard = Shard.open(small_manifest.parent / "train")
    whole, stream, span = framed(shard), FramedStream(shard), 33
    boundaries = stream.starts[1:6]  # a window starting on a <cls>, and ones starting just before and after it
    starts = np.concatenate(([0, whole.size - span], boundaries, boundaries - 1, boundaries + 1))
    starts = np.concatenate((starts, np.random.default_rng(0).integers(0, whole.size - span, 300)))
    cut = stream.windows(starts, span)
    assert cut.shape == (starts.size, span)
    for row, a in zip(cut, starts, strict=True):
        assert np.array_equal(row, whole[a : a + span].astype(np.uint8)), a


def one_sample(whole: np.ndarray, text, ds: WindowDataset, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample i as the data contract states it (README "Training stage"), cut from the stream built the plain way:
    a generator seeded by (seed, i); with augmentation, a coin for auxiliary text first; the window's start; then,
    for MLM, the mask from the same generator."""
    rng = np.random.default_rng([ds.seed, i])
    if text is not None and rng.random() < ds.aux_fraction:
        start = int(rng.integers(0, text.size - ds.span + 1))
        window = text[start : start + ds.span].astype(np.int64) + vocab.AUX_OFFSET
    else:
        start = int(rng.integers(0, whole.size - ds.span + 1))
        window = whole[start : start + ds.span].astype(np.int64)
    if ds.objective == "clm":
        return window[:-1], window[1:]
    return mask_tokens(window, rng, ds.mask_ratio)


def framed(shard: Shard) -> np.ndarray:
    return np.concatenate([np.concatenate(([vocab.CLS], shard[i], [vocab.EOS])) for i in range(len(shard))])


@pytest.mark.parametrize("objective, aux", [("clm", False), ("mlm", False), ("clm", True), ("mlm", True)])
def test_a_batch_holds_the_samples_the_contract_defines(small_manifest, objective, aux):
    """The batch path (__getitems__, windows cut at once) gives, row for row, the samples the per-sample contract
    defines: what runs trained before it saw, and what a resumed run must see again."""
    shard = Shard.open(small_manifest.parent / "train")
    text = np.frombuffer(b"def f(x):\n    return x * 2\n" * 400, dtype=np.uint8) if aux else None
    ds = WindowDataset(FramedStream(shard), 32, objective, 0.15, seed=3, aux=text, aux_fraction=0.5 if aux else 0.0)
    indices = list(range(1000, 1064))
    got, whole = ds.__getitems__(indices), framed(shard)
    for row, i in enumerate(indices):
        inputs, targets = one_sample(whole, text, ds, i)
        assert np.array_equal(got["inputs"][row].numpy(), inputs) and np.array_equal(
            got["targets"][row].numpy(), targets
        )


def test_validation_tiles_are_the_streams_consecutive_windows(small_manifest):
    """Validation and evaluation: tile k is the window at k·context, its mask drawn from (seed, 1, k)."""
    shard = Shard.open(small_manifest.parent / "valid")
    whole = framed(shard)
    ds = TiledDataset(FramedStream(shard), 32, "mlm", 0.15, seed=12345, limit=20)
    got = ds.__getitems__(list(range(len(ds))))
    for row, tile in enumerate(ds.index):
        window = whole[tile * 32 : tile * 32 + 32]
        inputs, targets = mask_tokens(window, np.random.default_rng([12345, 1, int(tile)]), 0.15)
        assert np.array_equal(got["inputs"][row].numpy(), inputs) and np.array_equal(
            got["targets"][row].numpy(), targets
        )


@pytest.mark.parametrize("objective, aux", [("clm", False), ("mlm", False), ("clm", True), ("mlm", True)])
def test_a_sample_is_the_same_in_any_batch(small_manifest, objective, aux):
    """Sample i depends on (seed, i) only, whichever batch fetches it (__getitems__): what makes a resumed run, and
    each DDP rank's share, see the samples of an uninterrupted single-process run."""
    stream = FramedStream(Shard.open(small_manifest.parent / "train"))
    text = np.frombuffer(b"def f(x):\n    return x * 2\n" * 400, dtype=np.uint8) if aux else None
    ds = WindowDataset(stream, 32, objective, 0.15, seed=3, aux=text, aux_fraction=0.5 if aux else 0.0)
    batches = [list(range(0, 64)), list(range(40, 100, 3)), [7, 61, 2]]
    alone = {i: ds[i] for batch in batches for i in batch}
    for batch in batches:
        got = ds.__getitems__(batch)
        for key in ("inputs", "targets"):
            assert torch.equal(got[key], torch.stack([alone[i][key] for i in batch])), (batch, key)
    if aux:  # both kinds of sample in these batches, so the rows of each kind went to their own places
        kinds = {bool((alone[i]["inputs"] >= vocab.AUX_OFFSET).any()) for i in range(64)}
        assert kinds == {True, False}


def test_steps_log_every_few_steps_and_the_clock_accounts_for_the_run(small_manifest, tmp_path, capsys):
    """train/loss, train/lr and perf/* reach MLflow every log_every_n_steps steps and at the last (not through
    LightningModule.log on every step); the LR logged is the one the step used; timing.json's phases add up to
    the process's wall time and are logged as time/* at step D."""
    run_dir, store = tmp_path / "run", f"sqlite:///{tmp_path / 'mlflow.db'}"
    overrides = [
        *tiny_overrides(small_manifest, run_dir),
        f"logger.tracking_uri={store}",
        "logger.experiment=loop",
        "objective=mlm",
    ]
    proc = cli(capsys, "train", *overrides)
    assert proc.returncode == 0, proc.stderr[-2000:]
    plan = json.loads((run_dir / "plan.json").read_text())
    run_id = (run_dir / "mlflow_run_id.txt").read_text().strip()
    client = MlflowClient(store)
    every, steps, per_step = 10, plan["steps"], plan["tokens_per_step"]
    logged = sorted({*range(every, steps + 1, every), steps})
    losses = client.get_metric_history(run_id, "train/loss")
    assert [m.step for m in losses] == [s * per_step for s in logged]
    rates = [m.value for m in client.get_metric_history(run_id, "train/lr")]
    expect = [plan["lr"] * lr_factor(s - 1, steps, plan["warmup_steps"], 0.1) for s in logged]
    assert rates == pytest.approx(expect, rel=1e-6)
    assert all(m.value > 0 for m in client.get_metric_history(run_id, "perf/tokens_per_s"))

    timing = json.loads((run_dir / "timing.json").read_text())
    seconds = timing["seconds"]
    assert set(seconds) == set(PHASES)
    assert sum(seconds.values()) == pytest.approx(timing["total_seconds"], abs=0.05)
    assert min(seconds.values()) >= 0 and seconds["validation"] > 0 and seconds["checkpoints"] > 0
    assert seconds["logging"] > 0  # the MLflow writes of the step metrics, counted apart from the steps
    assert timing["tokens"] == plan["tokens"]
    assert timing["steps_tokens_per_s"] == pytest.approx(plan["tokens"] / seconds["steps"], rel=0.01)
    logged_steps = client.get_metric_history(run_id, "time/steps_s")
    assert [(m.step, m.value) for m in logged_steps] == [(plan["tokens"], seconds["steps"])]
    assert f"steps at {timing['steps_tokens_per_s']:,.0f} tokens/s" in proc.stderr
