"""A run that diverges: a failure by default, a recorded result in a tuning study's cells (trainer.on_divergence),
where too high an LR is what the grid looks for. A recorded divergence is listed by the fit and left out of it."""

import csv
import json
import shutil

import pytest

from plm_scaling.config_schema import ConfigError, first_problem
from plm_scaling.study.collect import collect
from plm_scaling.study.figure import _provenance
from plm_scaling.study.fit import study_analysis
from plm_scaling.study.fits_schema import schema_path
from plm_scaling.study.fits_table import write_fits_table
from plm_scaling.study.sweeps import expand
from plm_scaling.training.plan import make_plan
from plm_scaling.training.train import compose_config

from ..conftest import cli, tiny_overrides
from .fixture_study import few_starts
from .test_tuning import BETAS, SCALES, SIZES, STUDY, TRUE_EXPONENT, _loss_table, synthetic_runs

BLOW_UP = "optim.lr_scale=3000"  # the tiny run's loss passes 3x its start within 10 steps (seed 0)


@pytest.fixture
def torch_threads():
    """In-process training sets torch's threads (trainer.threads=1): given back, for the worker's later tests."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow  # two tiny trainings of ~10 steps, in this process (no interpreter start-up)
def test_a_divergence_fails_a_run_unless_it_is_recorded_and_a_recorded_one_is_evaluated_and_collected_as_such(
    small_manifest, tiny_clm_run, tmp_path, capsys, torch_threads
):
    failed = cli(capsys, "train", *tiny_overrides(small_manifest, tmp_path / "failed", BLOW_UP))
    assert failed.returncode != 0 and "diverged" in failed.stderr
    assert not (tmp_path / "failed" / "run.json").exists()
    run_dir = tmp_path / "recorded"
    proc = cli(capsys, "train", *tiny_overrides(small_manifest, run_dir, BLOW_UP, "trainer.on_divergence=record"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    done = json.loads((run_dir / "run.json").read_text())
    assert done["final_val_loss"] is None and "exceeds 3.0× its initial" in done["diverged"]
    assert done["steps_done"] < done["steps"] and (run_dir / "final.ckpt").is_file()
    assert (run_dir / "timing.json").is_file()  # the hours a cap charges count a diverged run too
    evaluated = cli(capsys, "evaluate", run_dir)
    assert evaluated.returncode == 0 and "diverged in training, not evaluated" in evaluated.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["diverged"] == done["diverged"] and "valid_loss" not in metrics
    late = tmp_path / "late"  # a run that diverged after validations: its curve has rows, none may be fitted
    shutil.copytree(tiny_clm_run[0], late, ignore=shutil.ignore_patterns("metrics.json", "checkpoints"))
    recorded = {"final_val_loss": None, "diverged": done["diverged"]}
    (late / "run.json").write_text(json.dumps({**json.loads((late / "run.json").read_text()), **recorded}))
    table, runs = collect([tiny_clm_run[0], run_dir, late], "s")
    by = {r["run_dir"]: r for r in runs}
    assert by[str(run_dir)]["diverged"] == done["diverged"] and "diverged" not in by[str(tiny_clm_run[0])]
    assert by[str(late)]["diverged"] == done["diverged"]
    assert set(table["source"]) == {str(tiny_clm_run[0] / "curve.csv")}  # no loss row of a diverged run
    bad = cli(capsys, "train", *tiny_overrides(small_manifest, tmp_path / "x", "trainer.on_divergence=ignore"))
    assert bad.returncode == 2 and "config key trainer.on_divergence: 'ignore' is neither fail nor record" in bad.stderr
    ddp = ["trainer=ddp_cpu", "trainer.lightning.devices=2", "trainer.on_divergence=record"]
    with pytest.raises(ConfigError, match=r"trainer.on_divergence: record needs one process \(here DDP ranks\)"):
        make_plan(compose_config(tiny_overrides(small_manifest, tmp_path / "y", *ddp)))  # ranks judge apart


def test_only_a_tuning_cell_records_its_divergence():
    grid = {"objectives": ["clm"], "sizes": [800], "budgets": [1e10]}
    plain = expand({**STUDY, "sweeps": [grid]})
    tuned = expand({**STUDY, "sweeps": [{**grid, "lr_scales": [4]}]})
    assert all("trainer.on_divergence=record" not in p.overrides for p in plain.values())
    assert all("trainer.on_divergence=record" in p.overrides for p in tuned.values())


def _diverged(run: dict) -> dict:
    return {**run, "valid_loss": None, "final_val_loss": None, "diverged": "training loss is nan at step 20"}


@pytest.mark.filterwarnings("ignore:study-clm")  # one budget, no IsoFLOP law: not what is tested here
def test_the_fit_lists_diverged_cells_and_fits_the_rest(tmp_path):
    """The smallest size's two highest LRs diverged at every β2: its LR parabola runs through the three it trained,
    the law still rests on the three sizes, and the fits (JSON, table) name every diverged run."""
    runs = [{**r, "tokens": r["flops"] / (6 * r["n"])} for r in synthetic_runs()]
    runs = [_diverged(r) if r["n"] == SIZES[0] and r["point"]["lr_scale"] >= 2 else r for r in runs]
    grid = {"objectives": ["clm"], "sizes": list(SIZES), "budgets": [1e10], "lr_scales": SCALES, "beta2s": BETAS}
    with few_starts():
        table = _loss_table([r for r in runs if not r.get("diverged")])  # collect writes no row of a diverged run
        fits = study_analysis({**STUDY, "sweeps": [grid]}, None, bootstrap=0, seed=0)(table, runs)
    clm = fits["clm"]
    assert first_problem(json.loads(json.dumps(clm)), schema_path(), "objective_fits") is None
    (recorded,) = [r for r in runs if r.get("diverged")][:1]  # as collect hands it to the fit (fits.json input_runs)
    assert first_problem(json.loads(json.dumps({**recorded, "run_dir": "d"})), schema_path(), "input_run") is None
    keys = ("study", "fit_run_id", "tracking_uri", "experiment", "table_digest", "config_hash", "study_file")
    fits_json = dict.fromkeys((*keys, "data_hash", "data_manifest", "code"), "x") | {"input_runs": runs}
    sidecar = _provenance("tuning", fits_json, "r", tmp_path / "t.png", {})
    by = {r["sweep_point"]: r for r in sidecar["input_runs"]}  # what audit reads: FAILED is then what it expects
    assert by[recorded["sweep_point"]]["diverged"] == recorded["diverged"]
    gone = [r["sweep_point"] for r in runs if r.get("diverged")]
    assert sum("diverged" in r for r in sidecar["input_runs"]) == len(gone)
    assert len(gone) == 2 * len(BETAS) and sorted(d["run"] for d in clm["diverged"]) == sorted(gone)
    cells = clm["tuning"]["diverged"]
    assert {(c["n"], c["lr_scale"]) for c in cells} == {(SIZES[0], 2.0), (SIZES[0], 4.0)} and len(cells) == 6
    smallest = clm["tuning"]["sizes"][0]
    assert smallest["n"] == SIZES[0] and all(len(c["lr_scales"]) == 3 for c in smallest["beta2"].values())
    assert clm["tuning"]["lr_law"]["exponent"] == pytest.approx(TRUE_EXPONENT, abs=0.1)
    write_fits_table(fits, tmp_path / "t.csv")
    rows = [r for r in csv.DictReader((tmp_path / "t.csv").open()) if r["quantity"] == "diverged run"]
    assert len(rows) == 6 and all("left out of every fit" in r["note"] for r in rows)


def test_audit_expects_a_recorded_divergence_to_have_ended_its_mlflow_run_failed():
    from types import SimpleNamespace as NS

    from plm_scaling.provenance.audit_runs import input_run_problems

    def run(status: str, tags: dict):
        return NS(info=NS(status=status), data=NS(metrics={}, tags=tags))

    recorded = {"run_id": "r1", "sweep_point": "clm_N800_C1e10_lr4_b0.95_s0", "final_val_loss": None}
    diverged = {**recorded, "diverged": "training loss is nan at step 20"}
    assert input_run_problems(run("FAILED", {"diverged": "training loss is nan at step 20"}), diverged) == []
    assert input_run_problems(run("FAILED", {}), diverged) == [
        "input run r1 (clm_N800_C1e10_lr4_b0.95_s0) is FAILED (recorded as diverged)"
    ]  # a run that failed for another reason is not passed off as a recorded divergence
    assert input_run_problems(run("FINISHED", {}), diverged) != []
    assert input_run_problems(run("FAILED", {"diverged": "x"}), recorded) == [
        "input run r1 (clm_N800_C1e10_lr4_b0.95_s0) is FAILED"
    ]
