"""Bad input to studies and their plans: names that would become paths outside results/ (a study, a dataset, a sweep
point read from a plan), grid values that would silently run something else (unique tokens, transfer shares,
schema bounds), and law files or fits that `study plan-check` cannot plan from; one line each, exit 2, nothing
written. A study file that stops the workflow itself: tests/workflow/test_bad_input.py."""

from __future__ import annotations

import json

import pytest
import yaml

from plm_scaling.config_schema import ConfigError, validate_config
from plm_scaling.names import check_name
from plm_scaling.study.extrapolate import read_plan
from plm_scaling.study.sweeps import expand

from ...conftest import REPO, cli, fixture_fits
from . import one_line_error

SCHEMA = REPO / "config" / "schemas" / "config.schema.yaml"

# ------------------------------------------------------------------------------------------ names that become paths


def test_safe_names():
    for name in ("smoke", "uniprot_example", "a.b+c-1", "U1e+04"):
        assert check_name(name, "k") == name
    for bad in ("../x", "..", "a/b", "", ".hidden", "-x", "a..b", "a b", None, 3):
        with pytest.raises(ValueError, match=r"^k: .* is not a safe name"):
            check_name(bad, "k")


def test_plan_point_ids_that_leave_results_are_refused(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"points": {"clm_N5000_C1e10_s0": ["seed=0"], "../../../../x": ["seed=0"]}}))
    with pytest.raises(ValueError, match=r"plan\.json: point id: '\.\./\.\./\.\./\.\./x' is not a safe name"):
        read_plan(plan)
    plan.write_text(json.dumps({"points": {"clm_N5000_C1e10_s0": "seed=0"}}))
    with pytest.raises(ValueError, match=r"plan\.json: points\.clm_N5000_C1e10_s0: its overrides are not a list"):
        read_plan(plan)
    plan.write_text(json.dumps({"points": {"clm_N5000_C1e10_s0": ["seed=0"]}}))
    assert list(read_plan(plan)["points"]) == ["clm_N5000_C1e10_s0"]


# ----------------------------------------------------------------------------------- silent wrong runs

STUDY = {"dataset": "d", "seeds": [0], "overrides": [], "point_overrides": {}}


@pytest.mark.parametrize("u", [0.5, 1.5, 0, -3])
def test_unique_tokens_must_be_whole_numbers_of_at_least_one(u):
    grid = {"objectives": ["clm"], "sizes": [3000], "tokens": [8e6], "unique_tokens": [3e4, u]}
    with pytest.raises(ConfigError, match=rf"config key sweeps\[0\]\.unique_tokens: {u!r} is not a whole number"):
        expand({**STUDY, "sweeps": [grid]})
    with pytest.raises(ConfigError, match=r"config key sweeps\.0\.unique_tokens\.1: "):
        validate_config({"dataset": "d", "sweeps": [grid]}, SCHEMA, definition="study")
    points = expand({**STUDY, "sweeps": [{**grid, "unique_tokens": [3e4, 5.0e3]}]})
    assert sorted(p.unique_tokens for p in points.values()) == [5000, 30000]


@pytest.mark.parametrize("share", [0.9999999, 0.001, 0.125, 0.995])
def test_transfer_shares_must_round_trip_through_their_id(share):
    grid = {"objectives": ["mlm"], "sizes": [5000], "budgets": [1e10], "transfer_shares": [0, share]}
    with pytest.raises(ConfigError, match=rf"transfer_shares: {share!r} is not 0 \(scratch\) or a share in"):
        expand({**STUDY, "sweeps": [grid]})
    ok = expand({**STUDY, "sweeps": [{**grid, "transfer_shares": [0, 0.01, 0.25, 0.99]}]})
    assert {"clm_N5000_C1e10_pre0.99_s0", "mlm_N5000_C1e10_clm0.99_s0", "clm_N5000_C1e10_pre0.01_s0"} <= set(ok)


def test_schema_bounds_shares_and_filter_band():  # extrapolate.factor: PLAN_CASES factor_huge
    study = {"dataset": "d", "objectives": ["mlm"], "sizes": [5000], "budgets": [1e10]}
    with pytest.raises(ConfigError, match=r"transfer_shares\.0: 0\.9999999 is greater than the maximum of 0\.99"):
        validate_config({**study, "transfer_shares": [0.9999999]}, SCHEMA, definition="study")
    config = {"datasets": {"d": {"fasta": "x", "filter": {"reference_run": "r", "drop_top": 0.999999}}}}
    with pytest.raises(ConfigError, match=r"datasets\.d\.filter"):
        validate_config(config, SCHEMA)


LAW = {"n_opt": {"coef": 12000 / 1e10**0.5, "exponent": 0.5}, "loss": {"coef": 2.9, "exponent": -0.001}}


def _plan_inputs(tmp_path, law=None, law_text=None, **extrapolate) -> tuple:
    """A fits JSON (one CLM run at 1e10 FLOPs), a law file and a study file that extrapolates it."""
    fits, data = tmp_path / "fits.json", fixture_fits("study")
    run = {**data["input_runs"][0], "objective": "clm", "flops": 1.0e10, "sweep_point": "clm_N12000_C1e10_s0"}
    fits.write_text(json.dumps({**data, "input_runs": [run]}))
    law_file = tmp_path / "law.json"
    law_file.write_text(law_text if law_text is not None else json.dumps({"clm": law or LAW}))
    study = tmp_path / "s.yaml"
    spec = {"dataset": "d", "objectives": ["clm"], "sizes": [12000], "budgets": [1.0e10]}
    spec["extrapolate"] = {"objectives": ["clm"], "law": str(law_file), "factor": 1, **extrapolate}
    study.write_text(yaml.safe_dump(spec))
    return fits, study, tmp_path / "out" / "plan.json"


def test_plan_check_plans_a_good_law(tmp_path, capsys):
    fits, study, out = _plan_inputs(tmp_path)
    proc = cli(capsys, "study", "plan-check", fits, study, out)
    assert proc.returncode == 0, proc.stderr
    plan = read_plan(out)
    assert sorted(plan["points"]) == ["clm_N12000_C1e10_s0", "clm_N24000_C1e10_s0", "clm_N6000_C1e10_s0"]


def _n_opt(**law) -> dict:
    return {**LAW, "n_opt": {**LAW["n_opt"], **law}}


PLAN_CASES = {
    "coef_text": ({"law": _n_opt(coef="abc")}, r"law\.json: key clm\.n_opt\.coef: 'abc' is not a finite number"),
    "coef_empty": ({"law": _n_opt(coef="")}, r"law\.json: key clm\.n_opt\.coef: '' is not a finite number"),
    "coef_list": ({"law": _n_opt(coef=[1])}, r"law\.json: key clm\.n_opt\.coef: \[1\] is not a finite number"),
    "coef_zero": ({"law": _n_opt(coef=0)}, r"law\.json: key clm\.n_opt\.coef: 0 must be above 0"),
    "coef_negative": ({"law": _n_opt(coef=-1.2)}, r"law\.json: key clm\.n_opt\.coef: -1\.2 must be above 0"),
    "coef_nan": ({"law": _n_opt(coef=float("nan"))}, r"law\.json: key clm\.n_opt\.coef: nan is not a finite"),
    "coef_inf": ({"law": _n_opt(coef=float("inf"))}, r"law\.json: key clm\.n_opt\.coef: inf is not a finite"),
    "exponent_huge": ({"law": _n_opt(exponent=1e6)}, r"law\.json: key clm\.n_opt\.exponent: 1e\+06 is outside"),
    "exponent_missing": ({"law": {"n_opt": {"coef": 1}}}, r"law\.json: key clm\.n_opt\.exponent: None is not a"),
    "law_list": ({"law": {"n_opt": []}}, r"law\.json: key clm\.n_opt: \[\] is not a law"),
    "loss_text": ({"law": {**LAW, "loss": "x"}}, r"law\.json: key clm\.loss: 'x' is not a law"),
    "samples_bad": ({"law": _n_opt(samples=[[1, 2, 3]])}, r"key clm\.n_opt\.samples: not a list of \(coef, exp"),
    "file_empty": ({"law_text": ""}, r"law\.json: not a JSON file"),
    "file_text": ({"law_text": "N_opt = 0.12 C^0.5"}, r"law\.json: not a JSON file"),
    "file_list": ({"law_text": "[1, 2]"}, r"law\.json: not a JSON object of laws"),
    "factor_huge": ({"factor": 1e9}, r"s\.yaml: config key extrapolate\.factor: 1000000000\.0 is greater than"),
    "multiple_nan": ({"multiples": [0.5, float("nan")]}, r"s\.yaml: config key extrapolate\.multiples: .* not finite"),
    "too_large": (
        {"law": _n_opt(coef=1e13 / 1e10**0.5)},
        r"extrapolate\.factor: the planned clm size 5,000,000,000,000",
    ),
}


@pytest.mark.parametrize("case", sorted(PLAN_CASES))
def test_plan_check_refuses_what_no_run_could_follow(case, tmp_path, capsys):
    kwargs, pattern = PLAN_CASES[case]
    fits, study, out = _plan_inputs(tmp_path, **kwargs)
    proc = cli(capsys, "study", "plan-check", fits, study, out)
    one_line_error(proc, pattern)
    assert not out.parent.exists()


def test_plan_check_records_a_fit_law_it_cannot_plan_from(tmp_path, capsys):
    """The study's own fit with a nan coefficient: that objective gets an error, no `Nnan` point is planned."""
    fits, study, out = _plan_inputs(tmp_path)
    spec = yaml.safe_load(study.read_text())
    del spec["extrapolate"]["law"]
    study.write_text(yaml.safe_dump(spec))
    data = json.loads(fits.read_text())
    data["fits"]["clm"]["isoflop"]["n_opt"]["coef"] = float("nan")
    fits.write_text(json.dumps(data))
    proc = cli(capsys, "study", "plan-check", fits, study, out)
    assert proc.returncode == 0, proc.stderr
    plan = read_plan(out)
    assert plan["points"] == {}
    assert "fits.clm.isoflop.n_opt.coef: nan is not a finite number" in plan["objectives"]["clm"]["error"]
