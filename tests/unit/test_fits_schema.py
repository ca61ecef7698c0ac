"""The fits JSON's written shape (config/schemas/fits.schema.yaml): the shapes the workflow writes pass, a renamed,
missing or mistyped key is one line naming the file and the key, and a writer refuses a wrong shape before it
writes anything."""

from __future__ import annotations

import json
import re

import pytest

from plm_scaling.study.fits_schema import check_fits, read_fits

from ..conftest import cli, fixture_fits


def _written(tmp_path, fits: dict):
    path = tmp_path / "fits.json"
    path.write_text(json.dumps(fits))
    return path


def _check_step(study: dict) -> dict:
    """The extrapolation check's JSON: a study fit's shape, with its plan and one objective's prediction."""
    planned_from = {"fit_run_id": "f", "plan": "/p/plan.json", "plan_sha256": "a", "fits_sha256": "b"}
    extrapolation = {"budget": 3e11, "prediction": {"n_opt": 2e4}, "sizes": {"1.0": 2e4}, "error": "no 1x run"}
    return {
        **study,
        "derivation": {"step": "check"},
        "planned_from": planned_from,
        "fits": {"clm": {"extrapolation": extrapolation}},
    }


def test_the_shapes_the_workflow_writes_pass(tmp_path):
    study, paper = fixture_fits("study"), fixture_fits("paper")
    assert read_fits(_written(tmp_path, study)) == study
    assert check_fits(paper, "paper/fits.json", "paper") is paper
    check_fits({k: v for k, v in paper.items() if k != "provenance"}, "fits.json", "paper")  # plain `paper fits`
    check_fits(_check_step(study), "check.json")
    failed = {"error": "clm: 2 budget(s) with an interior IsoFLOP minimum", "budgets": [], "points": [], "dropped": []}
    study["fits"]["clm"]["isoflop"] = failed  # no law: the profiles alone, and why
    study["fits"]["mlm"]["parametric"] = {"error": "parametric fit needs at least 5 points"}
    check_fits(study, "fits.json")


def _renamed(fits: dict, old: str, new: str) -> dict:
    fits[new] = fits.pop(old)
    return fits


CASES = {
    "paper key renamed": (
        "paper",
        lambda f: _renamed(f, "isoflop", "interp"),
        r"fits key \(top level\): Additional properties are not allowed \('interp' was unexpected\)",
    ),
    "study section renamed": (
        "study",
        lambda f: _renamed(f["fits"]["clm"], "isoflop", "interp") and f,
        r"fits key fits\.clm: Additional properties are not allowed \('interp' was unexpected\)",
    ),
    "top key missing": ("study", lambda f: f.pop("fit_run_id") and f, r"fits key \(top level\): 'fit_run_id' is a"),
    "section missing": ("study", lambda f: f["fits"]["mlm"].pop("noise") and f, r"fits key fits\.mlm: 'noise' is a"),
    "law missing": (
        "study",
        lambda f: f["fits"]["clm"]["isoflop"].pop("n_opt") and f,
        r"fits key fits\.clm\.isoflop: 'n_opt'",
    ),
    "law mistyped": (
        "paper",
        lambda f: f["notebook"]["mlm"]["d_opt"].update(coef="1.2") or f,
        r"fits key notebook\.mlm\.d_opt\.coef: '1\.2' is not of type 'number'",
    ),
    "run key missing": (
        "study",
        lambda f: f["input_runs"][1].pop("sweep_point") and f,
        r"fits key input_runs\.1: 'sweep_point'",
    ),
    "objective unknown": ("study", lambda f: _renamed(f["fits"], "mlm", "xlm") and f, r"fits key fits: 'xlm' is not"),
    "check without plan": ("study", lambda f: _check_step(f) | {"planned_from": None}, r"fits key planned_from: None"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_wrong_shape_is_one_line_naming_the_file_and_the_key(case, tmp_path):
    kind, change, pattern = CASES[case]
    path = _written(tmp_path, change(fixture_fits(kind)))
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: {pattern}") as err:
        read_fits(path, kind)
    assert "\n" not in str(err.value) and len(str(err.value)) < 400 + len(str(path))


def test_not_json_and_unknown_kind(tmp_path):
    path = tmp_path / "fits.json"
    path.write_text("{")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: not a JSON file"):
        read_fits(path)
    with pytest.raises(ValueError, match="unknown kind of fits JSON 'notebook'"):
        check_fits({}, "x", "notebook")


def test_the_paper_fits_step_refuses_a_wrong_shape_before_writing(tmp_path, monkeypatch, capsys):
    """`paper fits` (no --released): fit_all's result checked before the file is written; a good one is written."""
    from plm_scaling.analysis import fits as fits_module
    from plm_scaling.analysis import logs

    paper = {k: v for k, v in fixture_fits("paper").items() if k != "provenance"}
    monkeypatch.setattr(logs, "read_table", lambda path: None)
    monkeypatch.setattr(
        fits_module, "fit_all", lambda table, bootstrap, seed: _renamed(dict(paper), "isoflop", "interp")
    )
    out = tmp_path / "out" / "fits.json"
    proc = cli(capsys, "paper", "fits", tmp_path / "table.csv", out)
    assert proc.returncode == 2 and f"{out}: fits key (top level): Additional properties" in proc.stderr
    assert not out.parent.exists()
    monkeypatch.setattr(fits_module, "fit_all", lambda table, bootstrap, seed: paper)
    assert cli(capsys, "paper", "fits", tmp_path / "table.csv", out).returncode == 0
    assert read_fits(out, "paper") == json.loads(json.dumps(paper))
