"""Small file helpers shared by every stage: atomic outputs, hashing, JSON."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_outputs(*paths: str | Path) -> Iterator[list[Path]]:
    """Yield temporary paths beside `paths`; rename them into place only if the block succeeds.

    On any exception every temporary file is removed, so a failed step leaves no partial outputs.
    """
    finals = [Path(p) for p in paths]
    temps = [p.with_name(f".{p.name}.tmp-{os.getpid()}") for p in finals]
    for p in finals:
        p.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield temps
        for tmp, final in zip(temps, finals):
            os.replace(tmp, final)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)


def sha256_file(path: str | Path, chunk: int = 8 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_json(path: str | Path, obj: Any) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())
