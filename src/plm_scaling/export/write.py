"""`plm-scaling export RUN_DIR OUT_DIR`: a finished, evaluated run's model as a transformers folder.

OUT_DIR holds model.safetensors and config.json (save_pretrained's), vocab.json (token -> id) and README.md (the
model card, card.py). It is built in a temporary folder beside OUT_DIR, checked (the folder, loaded back through
transformers' Auto class, must give the run's logits on a probe sequence) and only then renamed into place: a
failure leaves no OUT_DIR. An OUT_DIR that exists and is not empty is refused, never written into or deleted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import torch

from ..data.vocab import AUX_OFFSET, CLS, EOS, MASK, RESIDUE_IDS, TOKENS
from ..io import _missing_parents, _remove_empty_tree, alive, read_json, read_yaml, sha256_file, write_json
from ..names import RUN_SUMMARY
from . import card


def export_run(run_dir: str | Path, out_dir: str | Path) -> dict:
    """Export the run in `run_dir` to `out_dir`; returns the facts the model card was written from."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    facts = run_facts(run_dir)
    _check_out_dir(out_dir)
    hf = _transformers()
    from ..training.evaluate import load_model

    model = load_model(run_dir / "final.ckpt", "cpu")
    exported = hf.to_transformers(model)
    facts["architecture"] = type(exported).__name__
    facts["out_dir"] = str(out_dir)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{socket.gethostname()}-{os.getpid()}"
    created = _missing_parents(out_dir)  # removed again (if still empty) when the export fails
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(out_dir)
    try:
        tmp.mkdir()
        with _quiet():
            exported.save_pretrained(tmp)
            facts["check"] = _check_logits(model, hf.auto_class(facts["run"]["objective"]), tmp)
        write_json(tmp / "vocab.json", vocab(model.shape.vocab_size))
        (tmp / "README.md").write_text(card.model_card(facts))
        _readable(tmp)
        os.rename(tmp, out_dir)  # replaces an empty OUT_DIR; one that filled meanwhile fails (ENOTEMPTY)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)  # ours: named after this process
        if created is not None and not out_dir.exists():
            _remove_empty_tree(created)
    return facts


def run_facts(run_dir: Path) -> dict:
    """What the card says of the run, from its folder; a run that is not finished and evaluated is refused."""
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir}: no such run folder")
    for name, why in (
        ("run.json", "the run has not finished training"),
        ("metrics.json", f"the run was not evaluated; run `plm-scaling evaluate {run_dir}` first"),
        ("final.ckpt", "the finished run's checkpoint is missing"),
        ("config.yaml", "the run's config is missing"),
    ):
        if not (run_dir / name).is_file():
            raise ValueError(f"{run_dir / name}: missing; {why}")
    run, metrics = _read_json(run_dir / "run.json"), _read_json(run_dir / "metrics.json")
    config = read_yaml(run_dir / "config.yaml", f"{run_dir / 'config.yaml'}: ")
    if isinstance(run, dict) and run.get("diverged"):
        raise ValueError(f"{run_dir / 'run.json'}: the run diverged in training ({run['diverged']}); nothing to export")
    for name, found, keys in (
        ("run.json", run, (*RUN_SUMMARY, "shape", "n_formula")),
        ("metrics.json", metrics, (*RUN_SUMMARY, "valid_loss", "test_loss")),
    ):
        missing = [k for k in keys if not isinstance(found, dict) or k not in found]
        if missing:
            raise ValueError(f"{run_dir / name}: no key {missing[0]}")
    stale = [k for k in RUN_SUMMARY if metrics[k] != run[k]]
    if stale:  # evaluate copies these from run.json: metrics.json is of an earlier training of this folder
        raise ValueError(f"{run_dir / 'metrics.json'}: key {stale[0]} differs from run.json; evaluate the run again")
    return {
        "run": run,
        "metrics": metrics,
        "logger": (config.get("logger") or {}) if isinstance(config, dict) else {},
        "manifest": _manifest(run_dir, config),
        "checkpoint_sha256": sha256_file(run_dir / "final.ckpt"),
    }


def _read_json(path: Path):
    try:
        return read_json(path)
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError: the message names no file
        raise ValueError(f"{path}: not a JSON file ({err})") from None


def _manifest(run_dir: Path, config) -> dict:
    """The data manifest the run trained on (config key data.manifest) and its sha256 now. A relative path is
    relative to where training ran: the folder that holds run.dir, found from the run folder itself."""
    try:
        named, recorded_dir = Path(config["data"]["manifest"]), Path(config["run"]["dir"])
    except (TypeError, KeyError):
        raise ValueError(f"{run_dir / 'config.yaml'}: no key data.manifest or run.dir") from None
    here, tail = run_dir.resolve().parts, recorded_dir.parts
    root = Path(*here[: -len(tail)]) if not recorded_dir.is_absolute() and here[-len(tail) :] == tail else Path.cwd()
    candidates = [named] if named.is_absolute() else list(dict.fromkeys([root / named, Path.cwd() / named]))
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise ValueError(
            f"{run_dir / 'config.yaml'}: key data.manifest: {named} not found (looked in {candidates[0].parent})"
        )
    return {"path": str(named), "sha256": sha256_file(found)}


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir}: is a file; give a new folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise ValueError(f"{out_dir}: exists and is not empty; give a new folder (export never writes into one)")


def _transformers():
    """hf.py, whose import needs transformers (the `hf` extra): one line saying how to install it if it is missing."""
    try:
        from . import hf
    except ModuleNotFoundError as err:
        if err.name and err.name.split(".")[0] in ("transformers", "safetensors"):
            raise RuntimeError(
                f"export needs the `hf` extra ({err.name} is not installed): pip install 'plm-scaling[hf]'"
            ) from None
        raise
    return hf


@contextlib.contextmanager
def _quiet():
    """No progress bars from save_pretrained / from_pretrained: the command prints one line of its own."""
    from transformers.utils import logging

    shown = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            logging.enable_progress_bar()


PROBE_TOKENS = 64


def probe(context: int, mask: bool) -> torch.Tensor:
    """A fixed framed sequence (<cls> random residues <eos>, seeded) filling at most 64 positions of the context;
    for an MLM every 7th residue masked, as its inputs are."""
    rng = np.random.default_rng(0)
    residues = rng.choice(RESIDUE_IDS[:20], size=min(context, PROBE_TOKENS) - 2)  # the 20 standard amino acids
    if mask:
        residues[::7] = MASK
    return torch.tensor([[CLS, *residues.tolist(), EOS]])


@torch.no_grad()
def _check_logits(model, auto, folder: Path) -> dict:
    """The written folder, loaded as a user loads it, against the run's model on the probe. The tolerance is float32
    rounding of logits of this size (the mapping itself is exact: hf.py's docstring)."""
    x = probe(model.shape.context, mask=not model.causal)
    ours = model(x)
    theirs = auto.from_pretrained(folder).eval()(input_ids=x).logits
    diff = float((theirs - ours).abs().max())
    tolerance = 1e-5 * max(1.0, float(ours.abs().max()))
    if not diff <= tolerance:  # also NaN
        raise RuntimeError(f"export check: the written model's logits differ from the run's by {diff:.3g}")
    return {"max_abs_diff": diff, "tokens": x.shape[1], "max_abs_logit": float(ours.abs().max())}


def _readable(folder: Path) -> None:
    """safetensors writes its file owner-only (0600): give it the mode the umask gave vocab.json, written plainly."""
    mode = (folder / "vocab.json").stat().st_mode & 0o777
    (folder / "model.safetensors").chmod(mode)


def vocab(size: int) -> dict[str, int]:
    """token -> id: ESM-2's 33 tokens, then, in a code-augmented run's larger vocabulary, byte b as <0xNN>."""
    tokens = [*TOKENS, *(f"<0x{b:02X}>" for b in range(size - AUX_OFFSET))]
    return {t: i for i, t in enumerate(tokens)}


def _remove_orphans(out_dir: Path) -> None:
    """Temporary folders of exports to the same OUT_DIR whose process (on this host) is gone: a kill -9 left them."""
    host = socket.gethostname()
    for tmp in out_dir.parent.glob(f".{out_dir.name}.tmp-{host}-*"):
        pid = tmp.name.rpartition("-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)
