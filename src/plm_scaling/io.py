"""Small file helpers shared by every stage: atomic outputs, hashing, JSON, YAML."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_outputs(*paths: str | Path) -> Iterator[list[Path]]:
    """Yield temporary paths beside `paths`; rename them into place only if the block succeeds.

    On any exception every temporary file is removed, and so is every folder this call created, so a failed step
    leaves no partial outputs. Temporary files that a killed process (kill -9 runs no cleanup) left beside the
    same outputs are removed first: their names end in the process id, and that process is gone.
    """
    finals = [Path(p) for p in paths]
    temps = [p.with_name(f".{p.name}.tmp-{socket.gethostname()}-{os.getpid()}") for p in finals]
    created = [d for d in dict.fromkeys(_missing_parents(p) for p in finals) if d is not None]
    for p in finals:
        p.parent.mkdir(parents=True, exist_ok=True)
        _remove_orphans(p)
    done = False
    try:
        yield temps
        for tmp, final in zip(temps, finals):
            os.replace(tmp, final)
        done = True
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        if not done:
            for folder in sorted(created, key=lambda d: len(d.parts), reverse=True):
                _remove_empty_tree(folder)


def _missing_parents(path: Path) -> Path | None:
    """The outermost folder above `path` that does not exist yet (None if its folder exists)."""
    top = None
    for parent in path.parents:
        if parent.exists():
            return top
        top = parent
    return top


def _remove_empty_tree(folder: Path) -> None:
    """Remove `folder` and the empty folders under it, if nothing else is in them (never a file)."""
    if not folder.is_dir():
        return
    for sub in sorted((d for d in folder.rglob("*") if d.is_dir()), key=lambda d: len(d.parts), reverse=True):
        with contextlib.suppress(OSError):
            sub.rmdir()
    with contextlib.suppress(OSError):
        folder.rmdir()


def _remove_orphans(final: Path) -> None:
    """Delete `.NAME.tmp-HOST-PID` files beside `final` whose process, on this host, no longer exists. A temporary
    of another host (a shared disk on a cluster) is left alone: its process cannot be looked up from here."""
    host = socket.gethostname()
    for tmp in final.parent.glob(f".{final.name}.tmp-*"):
        owner, _, pid = tmp.name.removeprefix(f".{final.name}.tmp-").rpartition("-")
        if owner in ("", host) and pid.isdigit() and int(pid) != os.getpid() and not alive(int(pid)):
            tmp.unlink(missing_ok=True)


def alive(pid: int) -> bool:
    """Whether process `pid` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


def read_yaml(path: str | Path, where: str) -> Any:
    """A YAML file's content (None when empty); unparsable YAML is one ValueError line starting with `where`."""
    import yaml

    try:
        return yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{where}not a YAML file ({' '.join(str(err).split())})") from None
