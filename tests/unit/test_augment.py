"""Code augmentation: an auxiliary text corpus mixed into training at a token fraction, protein-only validation."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch

from plm_scaling.data.aux_corpus import build_corpus
from plm_scaling.data.shards import Shard
from plm_scaling.data.vocab import AUX_OFFSET, AUX_VOCAB_SIZE
from plm_scaling.training.data import FramedStream, ShardLoaders, WindowDataset

from ..conftest import cli, tiny_overrides


def test_corpus_is_the_files_in_path_order(tmp_path):
    src = tmp_path / "src"
    (src / "b").mkdir(parents=True)
    (src / "a.py").write_text("print('a')")
    (src / "b" / "c.py").write_text("x = 1")
    (src / "notes.txt").write_text("not code")
    info = build_corpus(src, tmp_path / "out", "*.py")
    data = (tmp_path / "out" / "corpus.u8").read_bytes()
    assert data == b"print('a')\nx = 1\n" and info["files"] == 2 and info["bytes"] == len(data)
    assert info["sha256"] == hashlib.sha256(data).hexdigest()


def test_augmented_stream_holds_the_configured_fraction(small_manifest):
    stream = FramedStream(Shard.open(small_manifest.parent / "train"))
    aux = np.frombuffer(b"def f(x):\n    return x * 2\n" * 400, dtype=np.uint8)
    ds = WindowDataset(stream, 32, "clm", 0.0, seed=3, aux=aux, aux_fraction=0.1)
    tokens = torch.cat([ds[i]["inputs"] for i in range(20_000)])
    share = float((tokens >= AUX_OFFSET).float().mean())
    assert abs(share - 0.1) < 0.01  # token fraction, not just window fraction
    assert int(tokens.max()) < AUX_VOCAB_SIZE
    plain = WindowDataset(stream, 32, "clm", 0.0, seed=3)
    assert all(int(plain[i]["inputs"].max()) < AUX_OFFSET for i in range(200))


def _train_and_evaluate(capsys, manifest, run_dir, *extra) -> tuple[dict, dict]:
    for command in (["train", *tiny_overrides(manifest, run_dir, *extra)], ["evaluate", run_dir]):
        proc = cli(capsys, *command)
        assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads((run_dir / "run.json").read_text()), json.loads((run_dir / "metrics.json").read_text())


def test_validation_and_evaluation_stay_on_protein_data(small_manifest, tiny_clm_run, tmp_path, capsys):
    corpus = tmp_path / "corpus.u8"
    corpus.write_bytes(b"import os\n" * 2000)
    kw = {"batch_size": 8, "steps_per_epoch": 1, "valid_windows": 16}
    with_aux = ShardLoaders(small_manifest, 32, "clm", 0.0, 0, **kw, aux_corpus=corpus, aux_fraction=0.3)
    without = ShardLoaders(small_manifest, 32, "clm", 0.0, 0, **kw)
    for a, b in zip(with_aux.val_dataloader(), without.val_dataloader(), strict=True):
        assert torch.equal(a["inputs"], b["inputs"]) and torch.equal(a["targets"], b["targets"])
    aug, aug_metrics = _train_and_evaluate(
        capsys, small_manifest, tmp_path / "aug", f"data.aux.corpus={corpus}", "data.aux.fraction=0.3"
    )
    plain_dir = tiny_clm_run[0]  # the same tiny run without augmentation
    plain, plain_metrics = (json.loads((plain_dir / f).read_text()) for f in ("run.json", "metrics.json"))
    assert aug["shape"]["vocab_size"] == AUX_VOCAB_SIZE and plain["shape"]["vocab_size"] == AUX_OFFSET
    assert aug["n"] == plain["n"]  # N counts non-embedding parameters: the byte tokens do not change it
    assert aug_metrics["valid_targets"] == plain_metrics["valid_targets"]  # the same protein tokens, scored alike
