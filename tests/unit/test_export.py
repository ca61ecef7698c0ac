"""`plm-scaling export`: a finished run's model, loaded through transformers' from_pretrained, gives the run's logits
on real sequences (CLM as stock GPT-NeoX, MLM as our registered class), its model card holds the run's numbers, and
bad input is one line, exit 2, and no OUT_DIR."""

from __future__ import annotations

import copy
import json
import shutil
import sys

import numpy as np
import pytest
import torch

from plm_scaling.data.shards import Shard
from plm_scaling.io import read_json, sha256_file
from plm_scaling.training.data import FramedStream, mask_tokens
from plm_scaling.training.evaluate import load_model

from ..conftest import cli, run_bounded, run_cli, tiny_overrides

# transformers (the `hf` extra) is in envs/requirements.lock: the tests run wherever the project is installed, and
# fail, not skip, where it is missing
pytestmark = pytest.mark.slow  # two exports, a tiny MLM training and a fresh interpreter loading both

# Run in a fresh interpreter: every ```python block of each card, in order (CLM first, before anything of ours can
# have been imported), then the loaded model on the real sequences.
LOAD_AS_A_USER = """
import re, sys, torch
folders, batches = sys.argv[1:3], torch.load(sys.argv[3])
results = {}
for objective, folder in zip(("clm", "mlm"), folders):
    ns = {}
    for block in re.findall(r"```python\\n(.*?)```", open(folder + "/README.md").read(), re.S):
        exec(block, ns)
    with torch.no_grad():
        real = ns["model"](input_ids=batches[objective]).logits
    ours = sorted(m for m in sys.modules if m.startswith("plm_scaling"))
    results[objective] = {"input_ids": ns["input_ids"], "snippet": ns["logits"].detach(), "real": real, "ours": ours,
                          "class": type(ns["model"]).__name__}
torch.save(results, sys.argv[4])
"""


@pytest.fixture(scope="module")
def tiny_mlm_run(small_manifest, tmp_path_factory):
    """A finished and evaluated tiny MLM run of 2 layers (a few seconds)."""
    run_dir = tmp_path_factory.mktemp("tiny_mlm") / "mlm"
    shape = ("objective=mlm", "model.n_layers=2", "model.d_model=16", "model.n_heads=2")
    proc = run_cli("train", *tiny_overrides(small_manifest, run_dir, *shape))
    assert proc.returncode == 0, proc.stderr[-2000:]
    from plm_scaling.cli import main

    assert main(["evaluate", str(run_dir)]) == 0
    return run_dir


@pytest.fixture(scope="module")
def exported(tiny_clm_run, tiny_mlm_run, tmp_path_factory):
    """Both runs exported by the real command: {objective: (run folder, export folder, command output)}."""
    from plm_scaling.cli import main

    out = {}
    for objective, run_dir in (("clm", tiny_clm_run[0]), ("mlm", tiny_mlm_run)):
        folder = tmp_path_factory.mktemp("export") / objective
        assert main(["export", str(run_dir), str(folder)]) == 0
        out[objective] = (run_dir, folder)
    return out


def real_batches(small_manifest, context: int) -> dict[str, torch.Tensor]:
    """Windows of the valid split as training frames them (<cls> residues <eos> ...); MLM's masked as training's."""
    stream = FramedStream(Shard.open(small_manifest.parent / "valid"))
    windows = stream.windows(stream.starts[:6], context)
    rng = np.random.default_rng(0)
    masked = np.stack([mask_tokens(w, rng, 0.15)[0] for w in windows])
    return {"clm": torch.from_numpy(windows.astype(np.int64)), "mlm": torch.from_numpy(masked)}


@pytest.fixture(scope="module")
def as_a_user(exported, small_manifest, tmp_path_factory):
    """What a fresh interpreter gets from the two folders by following their cards (LOAD_AS_A_USER)."""
    root = tmp_path_factory.mktemp("as_a_user")
    context = read_json(exported["clm"][0] / "run.json")["shape"]["context"]
    batches = real_batches(small_manifest, context)
    torch.save(batches, root / "batches.pt")
    folders = [str(exported[o][1]) for o in ("clm", "mlm")]
    cmd = [sys.executable, "-c", LOAD_AS_A_USER, *folders, root / "batches.pt", root / "out.pt"]
    proc = run_bounded(cmd, timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return batches, torch.load(root / "out.pt")


@torch.no_grad()
@pytest.mark.parametrize("objective", ["clm", "mlm"])
def test_logits_in_transformers_are_the_runs(objective, exported, as_a_user):
    batches, user = as_a_user
    ours = load_model(exported[objective][0] / "final.ckpt", "cpu")
    got = user[objective]
    assert got["class"] == {"clm": "GPTNeoXForCausalLM", "mlm": "PLMForMaskedLM"}[objective]
    torch.testing.assert_close(got["real"], ours(batches[objective]), rtol=0, atol=1e-5)
    torch.testing.assert_close(got["snippet"], ours(got["input_ids"]), rtol=0, atol=1e-5)  # the card's own example
    if objective == "clm":  # stock: loaded with nothing of ours imported
        assert got["ours"] == []


@torch.no_grad()
def test_gpt_neox_mapping_is_exact_in_float64(exported, small_manifest):
    """In float32 the two differ by rounding only: in float64 they agree to 1e-12 (hf.py's docstring)."""
    from transformers import AutoModelForCausalLM

    run_dir, folder = exported["clm"]
    ours = load_model(run_dir / "final.ckpt", "cpu").double()
    theirs = AutoModelForCausalLM.from_pretrained(folder).double().eval()
    x = real_batches(small_manifest, ours.shape.context)["clm"]
    assert (theirs(input_ids=x).logits - ours(x)).abs().max() < 1e-12


def test_card_holds_the_runs_numbers(exported, small_manifest):
    for objective, (run_dir, folder) in exported.items():
        run, metrics = read_json(run_dir / "run.json"), read_json(run_dir / "metrics.json")
        text = (folder / "README.md").read_text()
        assert text.startswith("---\nlibrary_name: transformers\n") and "- protein\n" in text
        for fact in (
            f"| N (non-embedding parameters) | {run['n']:,} ",
            f"| D (training tokens) | {run['tokens']:,} |",
            f"| C = 6·N·D (FLOPs) | {run['flops']:.4g}; counting attention and the output layer too, "
            f"{run['flops_full']:.4g} |",
            f"| objective | {objective.upper()}: ",
            f"| valid loss | {metrics['valid_loss']:.4f} ",
            f"| test loss | {metrics['test_loss']:.4f} ",
            f"sha256 `{sha256_file(small_manifest)}`",
            f"`final.ckpt`, sha256 `{sha256_file(run_dir / 'final.ckpt')}`",
            "trained with logger=none: no MLflow run",  # the tiny runs log nowhere
        ):
            assert fact in text, fact
        assert read_json(folder / "vocab.json")["<mask>"] == 32
        assert json.loads((folder / "config.json").read_text())["vocab_size"] == 33


def test_card_of_a_tracked_run_names_its_mlflow_run_and_audit_line(exported):
    from plm_scaling.export import card
    from plm_scaling.export.write import run_facts

    run_dir, folder = exported["clm"]
    facts = copy.deepcopy(run_facts(run_dir))
    facts |= {"architecture": "GPTNeoXForCausalLM", "out_dir": str(folder)}
    facts["check"] = {"max_abs_diff": 0.0, "tokens": 32, "max_abs_logit": 9.0}
    facts["run"]["run_id"] = "0123456789abcdef0123456789abcdef"
    facts["logger"] = {"experiment": "plm-scaling/tiny", "tracking_uri": "sqlite:///results/mlflow.db"}
    run, metrics = facts["run"], facts["metrics"]
    text = card.model_card(facts)
    assert "MLflow run `0123456789abcdef0123456789abcdef` (experiment `plm-scaling/tiny`" in text
    audit = (  # provenance/audit.py's input-run line
        f"{run['sweep_point']}: clm N={run['n']:,} C={run['flops']:.3g} loss {metrics['valid_loss']:.4f} "
        f"[{run['final_val_loss']:.4f}]  run 0123456789abcdef0123456789abcdef"
    )
    assert f"Audit line: `{audit}`" in text


def _copy_run(run_dir, dest, drop=()):
    shutil.copytree(run_dir, dest, ignore=shutil.ignore_patterns("checkpoints", *drop))
    return dest


@pytest.mark.parametrize(
    "drop, edit, message",
    [
        (("run.json",), None, "run.json: missing; the run has not finished training"),
        (("metrics.json",), None, "metrics.json: missing; the run was not evaluated; run `plm-scaling evaluate"),
        ((), {"final_val_loss": 9.0}, "metrics.json: key final_val_loss differs from run.json; evaluate the run again"),
    ],
    ids=["unfinished", "not-evaluated", "stale-metrics"],
)
def test_a_run_not_finished_and_evaluated_is_refused(tiny_clm_run, tmp_path, capsys, drop, edit, message):
    run_dir = _copy_run(tiny_clm_run[0], tmp_path / "run", drop)
    if edit:
        metrics = read_json(run_dir / "metrics.json") | edit
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
    out = tmp_path / "new" / "model"
    r = cli(capsys, "export", run_dir, out)
    assert r.returncode == 2 and message in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert not (tmp_path / "new").exists()


def test_a_non_empty_out_dir_is_refused_and_kept(tiny_clm_run, tmp_path, capsys):
    out = tmp_path / "model"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    r = cli(capsys, "export", tiny_clm_run[0], out)
    assert r.returncode == 2 and "exists and is not empty" in r.stderr, r.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["model"] and [p.name for p in out.iterdir()] == ["mine.txt"]


def test_a_wrong_conversion_is_caught_and_leaves_nothing(tiny_clm_run, tmp_path, capsys, monkeypatch):
    """Without the q/k permutation the export's own check (the folder loaded back) fails: no OUT_DIR, no temporary,
    no parent folder it made."""
    from plm_scaling.export import hf

    monkeypatch.setattr(hf, "neox_qk_order", torch.arange)  # our rotary pairs left as they are
    r = cli(capsys, "export", tiny_clm_run[0], tmp_path / "new" / "model")
    assert r.returncode == 2 and "export check: the written model's logits differ from the run's" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_without_transformers_the_error_says_how_to_install_it(tiny_clm_run, tmp_path, capsys, monkeypatch):
    import plm_scaling.export as package

    monkeypatch.delitem(sys.modules, "plm_scaling.export.hf", raising=False)
    monkeypatch.delattr(package, "hf", raising=False)
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if not installed
    r = cli(capsys, "export", tiny_clm_run[0], tmp_path / "model")
    assert r.returncode == 2 and "pip install 'plm-scaling[hf]'" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []
