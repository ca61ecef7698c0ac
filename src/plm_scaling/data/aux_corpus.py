"""An auxiliary non-protein corpus for code augmentation: the text files of a folder (by default the Python
standard library's source, a real code corpus on every machine, no download) concatenated in path order into one
byte file, `corpus.u8`, with `corpus.json` (files, bytes, sha256 of the bytes, where they came from).

Training mixes windows of it into the protein stream at a configured token fraction (training/data.py); the bytes
become tokens AUX_OFFSET + byte (data/vocab.py)."""

from __future__ import annotations

import hashlib
import sysconfig
from pathlib import Path

from ..io import atomic_outputs, write_json


def default_folder() -> Path:
    """The standard library of the running Python: its .py files are ~30 MB of real code."""
    return Path(sysconfig.get_paths()["stdlib"])


def build_corpus(folder: str | Path | None, out_dir: str | Path, pattern: str = "*.py") -> dict:
    """Write `corpus.u8` and `corpus.json` into out_dir from the files under `folder` that match `pattern`."""
    folder = Path(folder) if folder else default_folder()
    if not folder.is_dir():
        raise ValueError(f"aux corpus: folder {folder} not found")
    files = sorted(p for p in folder.rglob(pattern) if p.is_file() and "site-packages" not in p.parts)
    if not files:
        raise ValueError(f"aux corpus: no file matches {pattern!r} under {folder}")
    out = Path(out_dir)
    sha, size = hashlib.sha256(), 0
    with atomic_outputs(out / "corpus.u8", out / "corpus.json") as (data, summary):
        with open(data, "wb") as fh:
            for path in files:
                chunk = path.read_bytes() + b"\n"
                fh.write(chunk)
                sha.update(chunk)
                size += len(chunk)
        info = {
            "folder": str(folder),
            "pattern": pattern,
            "files": len(files),
            "bytes": size,
            "sha256": sha.hexdigest(),
        }
        write_json(summary, info)
    return info
