"""The study's fit, fits table and figures on a small checked-in study (tests/fixtures/runs, written by
tests/fixtures/make_runs.py from a known law): no MLflow store, no training, no Snakemake; seconds. The same steps
run end to end, with MLflow, in tests/unit/audit/ and tests/workflow/test_study.py."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from xml.etree import ElementTree

import pytest
from PIL import Image

from plm_scaling.study.collect import collect
from plm_scaling.study.fits_schema import check_fits
from plm_scaling.study.study_file import load_study
from plm_scaling.study.sweeps import expand
from plm_scaling.sweep_point import SweepPoint

from ..conftest import fixture_fits
from ..fixtures import make_runs
from .fixture_study import POINTS, RUNS
from .fixture_study import fitted as fixture_fit


@pytest.fixture
def fitted():
    """(loss table, runs, fits) of the fixture study, as its fit step computes them (a fresh copy)."""
    return fixture_fit()


def test_the_fixture_is_what_its_generator_writes(tmp_path):
    make_runs.main(tmp_path / "runs")
    again = sorted(p.relative_to(tmp_path / "runs") for p in (tmp_path / "runs").rglob("*"))
    assert again == sorted(p.relative_to(RUNS) for p in RUNS.rglob("*"))
    for path in again:
        if (RUNS / path).is_file():
            assert (RUNS / path).read_bytes() == (tmp_path / "runs" / path).read_bytes(), path
    assert POINTS == sorted(expand(load_study(RUNS / "study.yaml").spec)), "the study names the fixture's runs"
    assert len(POINTS) == 15 and all(SweepPoint.parse(p).id == p for p in POINTS)


def test_collect_reads_every_validation_and_the_evaluated_end_point(fitted):
    table, runs, _ = fitted
    rows = {p: list(csv.DictReader(io.StringIO((RUNS / p / "curve.csv").read_text(), newline=""))) for p in POINTS}
    assert len(table["run"]) == sum(len(r) for r in rows.values())
    assert [r["sweep_point"] for r in runs] == POINTS
    for run in runs:
        point, folder = run["sweep_point"], RUNS / run["sweep_point"]
        mine = table.select(run=point)
        curve = rows[point]
        assert list(mine["x"]) == pytest.approx([float(r["flops"]) / 1e9 for r in curve])  # gigaflos, as the paper's
        metrics = json.loads((folder / "metrics.json").read_text())
        # every validation's loss as logged, but the last: the evaluate step's loss on the whole split
        assert list(mine["loss"]) == [float(r["val_loss"]) for r in curve[:-1]] + [metrics["valid_loss"]]
        assert metrics["valid_loss"] != float(curve[-1]["val_loss"])  # the fixture makes them differ
        assert run["files"] == {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in run["files"]}
        assert set(run["files"]) == {"run.json", "curve.csv", "metrics.json"}
        done = json.loads((folder / "run.json").read_text())
        assert SweepPoint(**run["point"]).id == point and run["n"] == done["n"]
        assert run["final_val_loss"] == done["final_val_loss"]  # the training-time loss stays the run's own


def test_collect_refuses_an_unfinished_run_and_a_point_that_names_another(tmp_path):
    shutil.copytree(RUNS, tmp_path / "runs")
    first, second = POINTS[:2]
    (tmp_path / "runs" / first / "curve.csv").unlink()
    with pytest.raises(ValueError, match=rf"^{first}: no run\.json or curve\.csv \(the run has not finished\)"):
        collect([first], "fixture", tmp_path / "runs")
    done = tmp_path / "runs" / second / "run.json"
    record = json.loads(done.read_text())
    done.write_text(json.dumps({**record, "point": {**record["point"], "seed": 1}}))
    with pytest.raises(ValueError, match=rf"{second}/run\.json: point .* does not name sweep_point {second}"):
        collect([second], "fixture", tmp_path / "runs")


def test_the_isoflop_fit_recovers_the_generators_law(fitted):
    iso = fitted[2]["clm"]["isoflop"]
    assert iso["n_budgets"] == 3 and iso["n_runs"] == 15 and iso["dropped"] == []
    # Five sizes 2x apart per budget: the parabola through them is a local model of a profile that is not one;
    # 0.01 on the exponents is the stated tolerance (tests/unit/test_analysis_synthetic.py: 0.02 with 7 sizes).
    assert iso["n_opt"]["exponent"] == pytest.approx(make_runs.n_opt_exponent(), abs=0.01)
    assert iso["d_opt"]["exponent"] == pytest.approx(1 - make_runs.n_opt_exponent(), abs=0.01)
    for budget, c in zip(iso["budgets"], make_runs.BUDGETS):
        assert budget["c"] == c and budget["status"] == "ok" and budget["sizes"] == 5
        n = make_runs.n_opt(c)
        assert budget["n_opt"] == pytest.approx(n, rel=0.05)  # the vertex of the parabola, not the law's optimum
        assert budget["loss"] == pytest.approx(make_runs.loss(n, c / (6 * n)), rel=1e-3)


def test_the_parametric_law_is_the_generators_on_the_training_time_losses(fitted):
    """The parametric fit reads run.json's final_val_loss, the law plus the fixture's windows offset: E moves by
    that offset, the rest is the law (losses written to 6 decimals)."""
    law = fitted[2]["clm"]["parametric"]
    expected = {**make_runs.LAW, "E": make_runs.LAW["E"] + make_runs.WINDOWS_OFFSET}
    assert {k: law[k] for k in expected} == pytest.approx(expected, rel=1e-3)
    assert law["n_points"] == 15


def test_the_fit_validates_against_the_fits_schema(fitted):
    _, runs, fits = fitted
    written = {**fixture_fits("study"), "study": "fixture", "input_runs": runs, "fits": fits}
    check_fits(written, "fits.json")
    del written["fits"]["clm"]["isoflop"]["n_opt"]  # a fitted law must carry its N_opt law
    with pytest.raises(ValueError, match=r"^fits\.json: fits key fits\.clm\.isoflop: 'n_opt' is a required property"):
        check_fits(written, "fits.json")


def test_the_fits_table_has_a_row_per_fitted_number(fitted, tmp_path):
    from plm_scaling.study.fits_table import COLUMNS, write_fits_table

    fits = fitted[2]
    write_fits_table(fits, tmp_path / "fits_table.csv")
    text = (tmp_path / "fits_table.csv").read_text()
    assert text.splitlines()[0] == ",".join(COLUMNS)
    assert {"unit", "coef", "x_unit", "y_unit", "d_opt_tokens", "loss_at_opt_nats"} <= set(COLUMNS)
    rows = list(csv.DictReader(io.StringIO(text)))
    quantities = [r["quantity"] for r in rows]
    # the fixture's runs count 7·N FLOPs per token in full: N_opt against those too (analysis/flop_count.py)
    exponents = ["N_opt exponent a", "D_opt exponent b", "L(C) exponent", "N_opt exponent a, other count"]
    parametric = [f"parametric {k}" for k in ("E", "A", "B", "alpha", "beta")]
    vpnls = ["vpnls N_opt exponent"]
    assert quantities == ["N_opt (parabola)"] * 3 + exponents + ["seed sd of the loss"] + parametric + vpnls
    assert {r["objective"] for r in rows} == {"clm"}
    assert [float(r["budget_flops"]) for r in rows[:3]] == list(make_runs.BUDGETS)
    iso, law = fits["clm"]["isoflop"], fits["clm"]["parametric"]
    budgets = iso["budgets"]
    assert [float(r["value"]) for r in rows[:3]] == pytest.approx([b["n_opt"] for b in budgets], rel=1e-5)
    # each budget's optimum with its D_opt and the loss there, in their units
    assert [float(r["d_opt_tokens"]) for r in rows[:3]] == pytest.approx([b["d_opt"] for b in budgets], rel=1e-5)
    assert [float(r["loss_at_opt_nats"]) for r in rows[:3]] == pytest.approx([b["loss"] for b in budgets], rel=1e-5)
    assert {r["unit"] for r in rows[:3]} == {"parameters"}
    # a power law: the exponent as the value, the coefficient in a column of its own with the units of x and y
    assert float(rows[3]["value"]) == pytest.approx(iso["n_opt"]["exponent"], rel=1e-5)
    coefs = [iso[k]["coef"] for k in ("n_opt", "d_opt", "loss")]
    assert [float(r["coef"]) for r in rows[3:6]] == pytest.approx(coefs, rel=1e-5)
    assert [(r["x_unit"], r["y_unit"]) for r in rows[3:7]] == [
        ("FLOPs", "parameters"),
        ("FLOPs", "tokens"),
        ("PF-days", "nats"),
        ("full FLOPs", "parameters"),
    ]
    # a constant full/paper ratio moves the coefficient, not the exponent
    assert float(rows[6]["value"]) == pytest.approx(iso["n_opt"]["exponent"], rel=1e-5)
    # every interval says how many resamples it rests on
    assert all(f"of {iso['bootstrap']} bootstrap resamples" in r["note"] for r in rows[3:7])
    assert all("coef" not in r["note"] for r in rows)
    assert [float(r["ci95_low"]) for r in rows[3:5]] == pytest.approx([iso[k]["ci95"][0] for k in ("n_opt", "d_opt")])
    # one seed: the seed noise is not measured, and the table says so
    assert rows[7]["value"] == "" and rows[7]["note"].startswith("not measured") and rows[7]["unit"] == "nats"
    assert [float(r["value"]) for r in rows[8:13]] == pytest.approx([law[k] for k in make_runs.LAW], rel=1e-5)
    assert all(r["note"] == "" for r in rows[8:13])
    # the variable-projection law recovers the fixture law's N_opt exponent, its interval says what it rests on
    assert float(rows[13]["value"]) == pytest.approx(make_runs.n_opt_exponent(), abs=0.005)
    assert (
        f"of {fits['clm']['vpnls']['bootstrap']} bootstrap resamples" in rows[13]["note"]
    )  # an identified law carries no warning


@pytest.mark.parametrize("name", ["isoflop", "curves"])
def test_a_figure_is_deterministic_and_carries_its_provenance(fitted, tmp_path, name):
    from plm_scaling.study.figure import draw

    table, runs, fits = fitted
    text = json.dumps({"figure": name, "study": "fixture", "input_runs": [r["run_id"] for r in runs]})
    one, two = tmp_path / "one" / f"{name}.png", tmp_path / "two" / f"{name}.png"
    for out in (one, two):
        out.parent.mkdir()
        draw(name, {"fits": fits, "input_runs": runs}, table, out, text)
    assert one.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert one.read_bytes() == two.read_bytes()
    assert one.with_suffix(".svg").read_bytes() == two.with_suffix(".svg").read_bytes()
    with Image.open(one) as png:
        assert png.text["Provenance"] == text
    described = ElementTree.parse(one.with_suffix(".svg")).find(".//{http://purl.org/dc/elements/1.1/}description")
    assert described is not None and described.text == text


def test_a_run_met_in_full_flops_is_collected_at_its_full_budget(tmp_path):
    """Grouping by budget (seed noise, mask ratio, extrapolation) reads a run's `flops`: the counted compute."""
    import json
    import shutil

    from plm_scaling.study.collect import collect

    point = POINTS[0]
    shutil.copytree(RUNS / point, tmp_path / point)
    done = json.loads((tmp_path / point / "run.json").read_text())
    (tmp_path / point / "run.json").write_text(json.dumps({**done, "flops_count": "full", "flops_full": 7e19}))
    (_, full), (_, paper) = (collect([point], "s", root) for root in (tmp_path, RUNS))
    assert (full[0]["flops"], full[0]["flops_count"]) == (7e19, "full")
    assert (paper[0]["flops"], paper[0]["flops_count"]) == (done["flops"], "paper")
