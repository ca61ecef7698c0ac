"""The code behind each stage of the workflow, its hash, and the git revision it ran at.

A stage's code is what its entry packages import, followed through the project's own imports (function-level
ones included): `training` imports `sweep_point.py`, so a change there reruns the training runs, while a change
in `study/` does not. Snakemake's code trigger sees only a rule's own lines, so the workflow puts each stage's hash
into its rules' params; run records carry it so that `audit` can tell which runs are stale.
"""

from __future__ import annotations

import ast
import hashlib
import subprocess
from pathlib import Path

from .paths import PACKAGE, config_root, train_config_dir

# The packages whose code each stage's commands run (the cli/ layer only parses arguments and is left out).
STAGE_ENTRIES = {"data": ("data",), "train": ("training",), "analysis": ("study", "analysis", "plotting")}
# Configuration that decides a stage's output besides its code: the config schema's defaults fill every config,
# the Hydra groups ("train") compose every training run, and the analysis also checks fits.json against its schema.
CONFIG_SCHEMA = "schemas/config.schema.yaml"
STAGE_CONFIG = {"data": (CONFIG_SCHEMA,), "train": (CONFIG_SCHEMA, "train"), "analysis": ("schemas",)}


def _module_file(package: Path, dotted: list[str]) -> Path | None:
    """The source file of package-relative module `a.b` (a module file or a package's __init__.py), if any."""
    base = package.joinpath(*dotted)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports(package: Path, path: Path) -> set[Path]:
    """The project modules one source file imports, anywhere in it."""
    parts = list(path.relative_to(package).with_suffix("").parts)
    here = parts[:-1]  # the package a relative import starts from (for a/b.py and a/__init__.py alike: a)
    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name.split(".") for a in node.names if a.name.split(".")[0] == package.name]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == package.name:
                base = node.module.split(".")
            else:
                continue
            targets = [base] + [base + [a.name] for a in node.names]  # `from . import x`: x may be a module
        else:
            continue
        for dotted in targets:
            dotted = dotted[1:] if dotted and dotted[0] == package.name else dotted
            for i in range(1, len(dotted) + 1):  # a module's parent packages run their __init__ too
                module = _module_file(package, dotted[:i])
                if module is not None:
                    found.add(module)
    return found


def stage_modules(stage: str, package: Path = PACKAGE) -> tuple[Path, ...]:
    """Every source file a stage's code runs: its entry packages and all project modules they import."""
    todo = [p for part in STAGE_ENTRIES[stage] for p in sorted((package / part).rglob("*.py"))]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo += sorted(_imports(package, path) - seen)
    return tuple(sorted(seen))


def _stage_files(stage: str, package: Path) -> list[tuple[str, Path]]:
    """(name, path) of every file a stage's output depends on: its source and its configuration."""
    files = [(p.relative_to(package).as_posix(), p) for p in stage_modules(stage, package)]
    for part in STAGE_CONFIG[stage]:
        where = train_config_dir(package) if part == "train" else config_root(package) / part
        if where.is_dir():
            files += [(f"config/{part}/{p.relative_to(where).as_posix()}", p) for p in sorted(where.rglob("*.yaml"))]
        else:
            files.append((f"config/{part}", where))
    return files


def stage_hash(stage: str, package: Path = PACKAGE) -> str:
    """sha256 (16 hex) of a stage's source and configuration files; the workflow puts it in its rules' params."""
    h = hashlib.sha256()
    for name, path in _stage_files(stage, package):
        h.update(name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def code_revision() -> dict:
    """Git commit of the project and whether its tracked files differ from it (dirty)."""
    root = PACKAGE.parents[1]
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
        return {"revision": rev.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.CalledProcessError):
        return {"revision": "unknown", "dirty": True}


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
