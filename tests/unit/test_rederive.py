"""The audit's re-derivation (provenance/rederive.py) on the checked-in study of tests/fixtures/runs, without
MLflow: its comparators name an edited number, and `study_fit` / `study_figure_problems` rebuild the loss table,
the fit, the fits table and the figure from the run folders and name what differs from what a fits JSON records.
The audit's whole chain, with a store, is tests/unit/audit/."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from plm_scaling.provenance.rederive import differences, named, study_figure_problems, study_fit
from plm_scaling.study.figure import draw
from plm_scaling.study.fits_table import write_fits_table

from ..conftest import fixture_fits
from .fixture_study import BOOTSTRAP, POINTS, RUNS, SEED, few_starts, fitted


def test_differences_name_every_edited_number():
    fits = fitted()[2]
    assert differences(fits, fitted()[2], "fits") == []
    edited, iso = fitted()[2], fits["clm"]["isoflop"]
    edited["clm"]["isoflop"]["n_opt"]["exponent"] += 1e-12  # the smallest edit is still an edit
    edited["clm"]["isoflop"]["budgets"][1]["loss"] = math.nan
    edited["clm"]["parametric"]["extra"] = 1
    del edited["clm"]["isoflop"]["dropped"]
    edited["clm"]["isoflop"]["points"].pop()
    assert differences(fits, edited, "fits") == [
        "fits.clm.isoflop.dropped: only in the recorded fit",
        f"fits.clm.isoflop.budgets[1].loss: recorded {iso['budgets'][1]['loss']!r}, recomputed nan",
        f"fits.clm.isoflop.n_opt.exponent: recorded {iso['n_opt']['exponent']!r}, "
        f"recomputed {edited['clm']['isoflop']['n_opt']['exponent']!r}",
        f"fits.clm.isoflop.points: {len(iso['points'])} entries recorded, {len(iso['points']) - 1} recomputed",
        "fits.clm.parametric.extra: only in the recomputed fit",
    ]
    assert differences({"x": [math.nan]}, {"x": [math.nan]}, "f") == []  # a NaN recorded is a NaN recomputed
    assert named([f"d{i}" for i in range(8)], "what") == [f"what: d{i}" for i in range(5)] + [
        "what: 3 more differences"
    ]


@pytest.fixture
def recorded(tmp_path) -> Path:
    """A fits JSON as the fit step writes it for the fixture's runs (copied, so a test may edit them), with its loss
    table and fits table beside it; the MLflow fields are the checked-in fixture's (the re-derivation reads none)."""
    table, runs, fits = fitted()
    shutil.copytree(RUNS, tmp_path / "runs")
    written = {
        **fixture_fits("study"),
        "study": "fixture",
        "input_runs": runs,
        "fits": fits,
        "workdir": str(tmp_path / "runs"),
        "study_file": str(tmp_path / "runs" / "study.yaml"),
        "loss_table": str(tmp_path / "loss_table.csv"),
        "fits_table": str(tmp_path / "fits_table.csv"),
        "derivation": {"step": "fit", "bootstrap": BOOTSTRAP, "seed": SEED},
    }
    table.write_csv(tmp_path / "loss_table.csv")
    write_fits_table(fits, tmp_path / "fits_table.csv")
    (tmp_path / "fits.json").write_text(json.dumps(written))
    return tmp_path / "fits.json"


def _problems(fits_json: Path) -> list[str]:
    with few_starts():
        return study_fit(fits_json)[-1]


def test_the_recorded_fit_is_rederived_exactly(recorded):
    assert _problems(recorded) == []


def test_an_edited_number_in_the_fits_json_is_named(recorded):
    data = json.loads(recorded.read_text())
    was = data["fits"]["clm"]["isoflop"]["n_opt"]["exponent"]
    data["fits"]["clm"]["isoflop"]["n_opt"]["exponent"] = 0.5
    recorded.write_text(json.dumps(data))
    assert _problems(recorded) == [
        f"recompute: fits.json: fits.clm.isoflop.n_opt.exponent: recorded 0.5, recomputed {was!r}"
    ]


def test_a_lowered_curve_is_named_in_the_loss_table_and_the_runs(recorded):
    curve = recorded.parent / "runs" / POINTS[4] / "curve.csv"
    head, first, *rest = curve.read_bytes().split(b"\r\n")
    cells = first.split(b",")
    curve.write_bytes(b"\r\n".join([head, b",".join([*cells[:-1], b"1.5"]), *rest]))
    line = 1 + 4 * 4 + 1  # the header, the 4 rows of each of the 4 runs before it, its first row
    problems = _problems(recorded)
    assert len(problems) == 2, problems  # the fit uses the runs' ends only: its numbers stand
    loss_table = recorded.parent / "loss_table.csv"
    assert problems[0].startswith(f"recompute: loss table: {loss_table} line {line} is 'clm,"), problems
    assert problems[0].endswith(f",1.5,{POINTS[4]}/curve.csv,study/fixture/clm,valid_loss,0.0,0.0,'"), problems
    assert problems[1].startswith("recompute: fits.json: input_runs[4].files.curve.csv: recorded "), problems


def test_the_figure_is_redrawn_byte_for_byte_and_a_changed_one_named(recorded):
    table, _, fits = fitted()
    figure, text = recorded.parent / "figures" / "isoflop.png", json.dumps({"figure": "isoflop"})
    figure.parent.mkdir()
    draw("isoflop", {"fits": fits}, table, figure, text)
    side = {
        "figure": "isoflop",
        "file": figure.name,
        "svg_sha256": "",
        "inputs": {"fits.json": {"path": str(recorded)}},
    }
    with few_starts():
        assert study_figure_problems(figure, side, text) == []
        fits["clm"]["isoflop"]["budgets"][0]["n_opt"] *= 1.5  # drawn from another number than the fit's
        draw("isoflop", {"fits": fits}, table, figure, text)
        problems = study_figure_problems(figure, side, text)
    assert [p.split(" (sha256")[0] for p in problems] == [
        f"recompute: figure: {name} is not what the recomputed numbers draw" for name in ("isoflop.png", "isoflop.svg")
    ]
