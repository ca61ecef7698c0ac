"""The style checks CI runs (fast): ruff lint and format, snakefmt, Snakemake's linter, and the project's size
limits (README "Code layout": modules of at most 300 lines, functions of at most 60)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import REPO

BIN = Path(sys.executable).parent
SOURCES = ["src", "tests", "benchmarks"]


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("check", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff(check):
    proc = run(str(BIN / "ruff"), *check, *SOURCES)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_snakefmt():
    proc = run(str(BIN / "snakefmt"), "--check", "Snakefile", "rules")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_snakemake_lint_finds_only_the_deliberate_absence_of_conda():
    """Rules run the project's own environment (make setup), so the one lint left is 'Specify a conda environment
    or container for each rule' (README: Software environment). Any other lint fails."""
    proc = run(str(BIN / "snakemake"), "--config", "paper_logs=null", "--lint")
    titles = [line.strip() for line in (proc.stdout + proc.stderr).splitlines() if line.strip().startswith("* ")]
    assert titles, proc.stdout + proc.stderr  # the linter ran and found the conda lint
    assert all("conda environment or container" in t for t in titles), sorted(set(titles))


def _python_files() -> list[Path]:
    return sorted(p for folder in ("src",) for p in (REPO / folder).rglob("*.py"))


def test_modules_are_at_most_300_lines():
    long = {p.relative_to(REPO).as_posix(): n for p in _python_files() if (n := len(p.read_text().splitlines())) > 300}
    assert not long, long


def test_functions_are_at_most_60_lines():
    long = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}")
    assert not long, long
