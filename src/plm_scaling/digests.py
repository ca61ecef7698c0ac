"""The hash chain: every file a result depends on is hashed by the step that makes it, and the hash is recorded
where the next step (and `plm-scaling audit`) can check it.

- a data step writes the sha256 of each shard it made into its manifest (`files`), and a step that derives a
  dataset from another (dedup, filter, subset) the sha256 of the manifest it read (`derived_from`); the split's
  manifest holds the input FASTA's sha256;
- a training run logs `sha256.run.json`, `sha256.curve.csv` and `sha256.final.ckpt` as MLflow tags, and the evaluate
  step `sha256.metrics.json`;
- a fit records the sha256 of every run file it read (per input run, `files`) and its run logs `sha256.<output>` of
  the fits JSON, loss table and fits table;
- a figure records the sha256 of every file it read (`inputs`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .io import read_json, sha256_file

TAG_PREFIX = "sha256."  # an MLflow tag `sha256.<file name>`: the file's sha256 when the step that made it ended
RUN_FILES = ("run.json", "curve.csv", "metrics.json")  # what a study's fit reads of each run, hashed as read
CHECKPOINT = "final.ckpt"


def tag(name: str) -> str:
    return f"{TAG_PREFIX}{name}"


def digest_tags(files: dict[str, str | Path]) -> dict[str, str]:
    """{`sha256.<name>`: sha256 of the file at that path} (a path may be a temporary that becomes `name`)."""
    return {tag(name): sha256_file(path) for name, path in files.items()}


def read_inputs(**paths: str | Path) -> tuple[dict, dict]:
    """({name: bytes}, {name: {path, sha256}}) of the files a step reads: hashed from the very bytes it then
    parses, so its provenance names exactly what it used (digests.py)."""
    raw = {name: Path(p).read_bytes() for name, p in paths.items()}
    digests = {
        name: {"path": str(Path(p).resolve()), "sha256": hashlib.sha256(raw[name]).hexdigest()}
        for name, p in paths.items()
    }
    return raw, digests


def seal_manifest(manifest: dict, temps: list[Path], finals: list[Path], parent: Path | None = None) -> dict:
    """The manifest with the sha256 of each shard the step wrote (`files`: final name -> sha256 of its temporary,
    which becomes it) and, for a dataset derived from another, the manifest it read (`derived_from`)."""
    files = {final.name: sha256_file(tmp) for tmp, final in zip(temps, finals) if final.name != "manifest.json"}
    sealed = {k: v for k, v in manifest.items() if k not in ("files", "derived_from")}
    sealed["files"] = files
    if parent is not None:
        sealed["derived_from"] = {"manifest": str(parent.resolve()), "sha256": sha256_file(parent)}
    return sealed


def data_chain_problems(manifest: Path, root: Path = Path(".")) -> list[str]:
    """Each link from a manifest back to the FASTA: its shards against the sha256 it recorded, the manifest it was
    derived from against the sha256 recorded of it (and so on), the split's input FASTA against its sha256."""
    problems: list[str] = []
    while True:
        info = read_json(manifest)
        if "files" not in info:
            return [*problems, f"data: {manifest} records no shard sha256 (made before the hash chain); rerun it"]
        for name, recorded in sorted(info["files"].items()):
            problems += _link(manifest.parent / name, recorded, f"data: shard {manifest.parent / name}", manifest)
        parent = info.get("derived_from")
        if parent is None:
            fasta = Path(info["input"]) if Path(info["input"]).is_absolute() else root / info["input"]
            return problems + _link(fasta, info["input_sha256"], f"data: input FASTA {fasta}", manifest)
        upstream = Path(parent["manifest"])
        found = _link(upstream, parent["sha256"], f"data: manifest {upstream}", manifest)
        if found:
            return problems + found
        manifest = upstream


def _link(path: Path, recorded: str, what: str, where: Path) -> list[str]:
    if not path.is_file():
        return [f"{what} is missing (recorded in {where})"]
    now = sha256_file(path)
    return [] if now == recorded else [f"{what}: sha256 {now[:12]} now, {recorded[:12]} recorded in {where}"]
