"""An auxiliary non-protein corpus for code augmentation: the text files of a folder (by default the Python
standard library's source, a real code corpus on every machine, no download) concatenated in path order into one
byte file, `corpus.u8`, with `corpus.json` (files, bytes, sha256 of the bytes, where they came from, what was
skipped and why).

Only what the folder holds is read: regular files (no symbolic link, device or pipe) whose real path lies under
the folder, UTF-8 text without NUL bytes (a binary or sparse file would otherwise become a stretch of zeros in
the corpus), at most `max_bytes` in all (a file that would cross the limit is skipped and counted). Files are
streamed in chunks, so memory does not grow with their size.

Training mixes windows of it into the protein stream at a configured token fraction (training/data.py); the bytes
become tokens AUX_OFFSET + byte (data/vocab.py)."""

from __future__ import annotations

import codecs
import collections
import hashlib
import os
import stat
import sysconfig
from pathlib import Path, PurePath

from ..io import atomic_outputs, write_json

MAX_BYTES = 1 << 28  # 256 MiB: ~8x the standard library's code; windows of it are sampled, never all trained on
CHUNK = 1 << 20


def default_folder() -> Path:
    """The standard library of the running Python: its .py files are ~30 MB of real code."""
    return Path(sysconfig.get_paths()["stdlib"])


def _check_pattern(pattern: str) -> None:
    """A glob relative to the folder: an absolute one or one with `..` would name files outside it."""
    parts = PurePath(pattern).parts
    if not pattern or PurePath(pattern).is_absolute() or ".." in parts:
        raise ValueError(
            f"aux corpus: --pattern {pattern!r} must be a relative glob without '..' (files under --folder)"
        )


def _candidates(root: Path, pattern: str, skipped: collections.Counter) -> list[Path]:
    """The files matching `pattern` under `root` (already resolved) that may be read, in path order; the others
    are counted in `skipped` by reason."""
    files = []
    for path in sorted(root.rglob(pattern)):
        if "site-packages" in path.relative_to(root).parts:
            skipped["under site-packages (installed packages, not the library)"] += 1
        elif path.is_symlink():
            skipped["symbolic link"] += 1
        elif not path.resolve().is_relative_to(root):
            skipped["outside the folder (a linked folder)"] += 1
        elif path.is_file():
            files.append(path)
        elif not path.is_dir():
            skipped["not a regular file"] += 1
    return files


def _append_text(path: Path, out, room: int) -> str | None:
    """Append the file at `path` and a newline to `out` if it is UTF-8 text of at most `room` bytes; else undo
    what was written and return why not. Opened without following a link (one swapped in after the scan)."""
    start = out.tell()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return "unreadable (or replaced by a link)"
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        if info.st_size + 1 > room:
            return "over the size limit (max_bytes in all)"
        decoder, why = codecs.getincrementaldecoder("utf-8")(), None
        while chunk := fh.read(CHUNK):
            if b"\0" in chunk:
                why = "binary (NUL bytes)"
                break
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                why = "not UTF-8 text"
                break
            out.write(chunk)
            if out.tell() - start + 1 > room:  # the file grew while being read
                why = "over the size limit (max_bytes in all)"
                break
    if why is None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            why = "not UTF-8 text"
    if why is not None:
        out.seek(start)
        out.truncate()
        return why
    out.write(b"\n")
    return None


def build_corpus(
    folder: str | Path | None, out_dir: str | Path, pattern: str = "*.py", max_bytes: int = MAX_BYTES
) -> dict:
    """Write `corpus.u8` and `corpus.json` into out_dir from the files under `folder` that match `pattern`;
    what was left out is counted by reason in the record's `skipped`."""
    folder = Path(folder) if folder else default_folder()
    if not folder.is_dir():
        raise ValueError(f"aux corpus: folder {folder} not found")
    _check_pattern(pattern)
    if not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"aux corpus: --max-bytes {max_bytes} must be a whole number of at least 1")
    root, skipped = folder.resolve(), collections.Counter()
    files, kept = _candidates(root, pattern, skipped), 0
    out = Path(out_dir)
    with atomic_outputs(out / "corpus.u8", out / "corpus.json") as (data, summary):
        with open(data, "w+b") as fh:
            for path in files:
                why = _append_text(path, fh, max_bytes - fh.tell())
                kept += why is None
                if why is not None:
                    skipped[why] += 1
            size, sha = fh.tell(), _sha256(fh)
        if not kept:
            reasons = "; ".join(f"{n} {why}" for why, n in sorted(skipped.items())) or "none matched"
            raise ValueError(f"aux corpus: no readable text file matches {pattern!r} under {folder} ({reasons})")
        info = {
            "folder": str(folder),
            "pattern": pattern,
            "files": kept,
            "bytes": size,
            "sha256": sha,
            "max_bytes": max_bytes,
            "skipped": dict(sorted(skipped.items())),
        }
        write_json(summary, info)
    return info


def _sha256(fh) -> str:
    """sha256 of what `fh` holds, read back in chunks (a file rejected midway was cut off again)."""
    sha = hashlib.sha256()
    fh.seek(0)
    while chunk := fh.read(CHUNK):
        sha.update(chunk)
    return sha.hexdigest()
