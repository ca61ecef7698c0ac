"""The paper's other experiments as study kinds, each at smoke size through real Snakemake on the small fixture:
repeated data (nested unique subsets, the data-constrained law)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from .test_workflow import make_config, snakemake


def _study(tmp_path, name: str, study: dict) -> None:
    studies = tmp_path / "studies"
    studies.mkdir(exist_ok=True)
    (studies / f"{name}.yaml").write_text(yaml.safe_dump(study))
    make_config(tmp_path, study=name, study_dir=str(studies), split={"valid": 0.1, "test": 0.1})


def _audit(tmp_path, figure) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "plm_scaling.cli", "audit", str(figure)]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)


@pytest.mark.slow
def test_repeated_data_study_runs_nested_subsets_fits_and_audits(tmp_path):
    """Fresh runs on the whole train part (~100k tokens; 3 sizes and 3 budgets, the fewest the base law takes) and
    runs repeating nested subsets of 5k and 20k tokens up to ~13 times; the fit compares each repeated point with its
    fresh twin and fits R_D*, R_N* (or says why not)."""
    clm = {"objectives": ["clm"]}
    study = {
        "dataset": "small",
        "overrides": ["model.context=32", "data.valid_windows=16"],
        "sweeps": [
            {**clm, "sizes": [5000, 30000], "tokens": [2e4, 8e4]},
            {**clm, "sizes": [12000], "tokens": [5e4], "seeds": [0, 1]},  # seed noise at one point
            {**clm, "sizes": [5000, 30000], "tokens": [8e4], "unique_tokens": [5e3]},
            {**clm, "sizes": [5000], "tokens": [8e4], "unique_tokens": [2e4]},
        ],
    }
    _study(tmp_path, "rep", study)
    cfg = yaml.safe_load((tmp_path / "config.yaml").read_text())
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({**cfg, "analysis": {"bootstrap": 50}}))
    run = snakemake(tmp_path, "--cores", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    data = tmp_path / "results" / "data" / "small"
    ids = {u: set((data / "unique" / str(u) / "train.ids.txt").read_text().split()) for u in (5000, 20000)}
    assert ids[5000] < ids[20000] < set((data / "split" / "train.ids.txt").read_text().split())  # nested
    manifest = json.loads((data / "unique" / "5000" / "manifest.json").read_text())
    assert 5000 <= manifest["subset"]["tokens"] < 20000 and manifest["splits"]["valid"]["sequences"] > 0
    study_dir = tmp_path / "results" / "studies" / "rep"
    done = json.loads((study_dir / "runs" / "clm_N5000_D8e04_U5e03_s0" / "run.json").read_text())
    assert done["unique_tokens"] == manifest["subset"]["tokens"] + 2 * manifest["subset"]["sequences"]  # framed
    fit = json.loads((study_dir / "fits.json").read_text())["fits"]["clm"]["repeated"]
    assert len(fit["gaps"]) == 3 and all(g["ci95"] is not None for g in fit["gaps"])  # seed noise measured
    assert {g["fresh"] for g in fit["gaps"]} == {"clm_N5000_D8e04", "clm_N30000_D8e04"}
    assert fit["single_epoch_runs"] == 6
    assert np.isfinite(fit["R_D_star"]["value"]) if "error" not in fit else fit["error"]
    assert (study_dir / "figures" / "repeated.png").stat().st_size > 10_000
    assert not (study_dir / "figures" / "isoflop.png").exists()  # token budgets: no IsoFLOP profiles to draw
    table = (study_dir / "fits_table.csv").read_text()
    assert "loss clm_N5000_D8e04_U5e03 - fresh" in table
    audit = _audit(tmp_path, study_dir / "figures" / "repeated.png")
    assert audit.returncode == 0, audit.stdout + audit.stderr
