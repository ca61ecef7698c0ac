"""The audit tests' fixture (`made`, built once for the package: synthetic.py) and the helpers that tamper with one
thing, audit (`plm-scaling audit` in this process) and put it back."""

from __future__ import annotations

import contextlib
import functools
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from plm_scaling.io import sha256_file
from plm_scaling.study.figure import sidecar_path

from ...conftest import fixture_fits
from .synthetic import paper_figure, study_figure


@pytest.fixture(scope="package")
def made(tmp_path_factory, small_manifest):
    """The figures and what they were made from, in one fresh store. The study's fit (and every re-derivation of
    it by audit) fits its parametric law from 2 L-BFGS starts, not 32: seconds, not a minute; the paper fit's
    numbers are a small fixture's (tests/workflow/test_paper_stage.py re-derives the real ones from every released
    CSV)."""
    from plm_scaling.analysis import fits as fits_module
    from plm_scaling.study import fit as fit_module

    patch = pytest.MonkeyPatch()
    patch.setattr(fit_module, "fit_parametric", functools.partial(fit_module.fit_parametric, starts=2))

    def paper_fits(table, bootstrap, seed) -> dict:
        """fit_all's shape (checked when written and read): the small fixture, afresh (fit_paper adds to it)."""
        return {k: v for k, v in fixture_fits("paper").items() if k != "provenance"}

    patch.setattr(fits_module, "fit_all", paper_fits)
    root = tmp_path_factory.mktemp("audit")
    uri = f"sqlite:///{root}/mlflow.db"
    paper, paper_table = paper_figure(root, uri)
    with contextlib.chdir(root):  # as the workflow runs its jobs: a run names its recipe from here, audit from anywhere
        figure, manifest = study_figure(root, uri, paper_table, small_manifest.parent)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    side = json.loads(sidecar_path(figure).read_text())
    yield SimpleNamespace(
        figure=figure,
        side=side,
        manifest=manifest,
        paper_table=paper_table,
        client=client,
        paper=paper,
        root=root,
        uri=uri,
        fits=figure.parents[1] / "fits.json",
    )
    patch.undo()


@contextlib.contextmanager
def changed_bytes(path: Path, new: bytes):
    """`path` holds `new` inside the block; its bytes are put back after it."""
    old = path.read_bytes()
    path.write_bytes(new)
    try:
        yield
    finally:
        path.write_bytes(old)


def tampered(capsys, figure: Path, path: Path, new: bytes, expected: list[str], *flags: str) -> None:
    """With `path` holding `new`, auditing `figure` reports exactly `expected`; restored, it audits clean."""
    with changed_bytes(path, new):
        audits_to(capsys, figure, expected, *flags)
    audits_to(capsys, figure, [], *flags)


def sha(path: Path) -> str:
    return sha256_file(path)[:12]


def audits_to(capsys, figure: Path, problems: list[str], *flags: str) -> None:
    """`plm-scaling audit FIGURE` (in this process) reports exactly `problems`, and exits 1 on them (0 on none)."""
    from plm_scaling.cli import main

    capsys.readouterr()
    code, out = main(["audit", str(figure), *flags]), capsys.readouterr().out
    assert [line.removeprefix("FAIL: ") for line in out.splitlines() if line.startswith("FAIL: ")] == problems, out
    assert code == (1 if problems else 0) and ("OK: figure, runs" in out) == (not problems)


@contextlib.contextmanager
def restored(*paths: Path):
    """Whatever the block does to `paths` (rewrites them through the workflow's own steps), their bytes are put
    back after it."""
    old = {p: p.read_bytes() for p in paths}
    try:
        yield
    finally:
        for p, data in old.items():
            p.write_bytes(data)


def outputs(made) -> list[Path]:
    """The fit's and the figures' files, which a test that re-runs a step rewrites."""
    study = made.fits.parent
    figures = [study / "figures" / f"{name}{ext}" for name in ("isoflop", "curves") for ext in (".png", ".svg")]
    figures += [sidecar_path(f) for f in figures if f.suffix == ".png"]
    return [made.fits, study / "loss_table.csv", study / "fits_table.csv", *figures]


def step_files(made, fits: dict) -> tuple:
    """(inputs, outputs) of the study's fit step, as the workflow's fit_study rule names them."""
    from plm_scaling.study.step_files import FitOutputs, StepInputs

    study = made.fits.parent
    inputs = StepInputs.of(fits["study_file"], made.manifest, made.uri, "plm-scaling/analysis")
    return inputs, FitOutputs.of(made.fits, study / "loss_table.csv", study / "fits_table.csv")


def rerun_fit(made) -> None:
    """The study's fit step again, as `snakemake -R fit_study` would run it, then its figures."""
    from plm_scaling.study.figure import study_figure
    from plm_scaling.study.fit import fit_study

    fits = json.loads(made.fits.read_text())
    run_dirs = [r["run_dir"] for r in fits["input_runs"]]
    with contextlib.chdir(fits["workdir"]):
        fit_study("audit", run_dirs, *step_files(made, fits), 5, 0, made.paper_table)
    for name in ("isoflop", "curves"):
        study_figure(name, made.fits, made.fits.parent / "figures" / f"{name}.png")


def audit_fails(capsys, figure: Path, count: int | None) -> list[str]:
    from plm_scaling.cli import main

    capsys.readouterr()
    code, out = main(["audit", str(figure)]), capsys.readouterr().out
    problems = [line.removeprefix("FAIL: ") for line in out.splitlines() if line.startswith("FAIL: ")]
    assert code == 1 and (count is None or len(problems) == count), out
    return problems


def curve_rows(path: Path) -> tuple[str, list[list[str]]]:
    head, *rows = path.read_text().splitlines()
    return head, [r.split(",") for r in rows]


def store_sql(made, sql: str, *args) -> None:
    """One statement on the sqlite store itself: what someone with the file, not the client, can do."""
    import sqlite3

    with sqlite3.connect(made.root / "mlflow.db") as con:
        con.execute(sql, args)


def audits_then_clean(capsys, figure: Path, expected: list[str], undo, *flags: str) -> None:
    """With a tampering in place, auditing `figure` reports exactly `expected`; `undo()` (always called) puts it
    back, and the figure audits clean again."""
    try:
        audits_to(capsys, figure, expected, *flags)
    finally:
        undo()
    audits_to(capsys, figure, [], *flags)
