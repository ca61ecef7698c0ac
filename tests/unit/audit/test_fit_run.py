"""The study fit's MLflow run as a user reads it in the UI (the `made` store, built by the real fit step): each
exponent with its 95% interval and bootstrap counts as metrics, and a description whose links open each training
run it read; the store holds the workflow's experiments only."""

from __future__ import annotations

import json
import re

import pytest

from plm_scaling.study.fit_tracking import NOTE

LINK = re.compile(r"\[([^\]]+)\]\(#/experiments/([^/)]+)/runs/([0-9a-f]+)\)")


def test_the_fit_run_logs_each_exponent_with_its_interval(made):
    fits = json.loads(made.fits.read_text())
    metrics = made.client.get_run(fits["fit_run_id"]).data.metrics
    iso, law = fits["fits"]["clm"]["isoflop"], fits["fits"]["clm"]["parametric"]
    for key in ("n_opt", "d_opt"):
        name, used = f"clm_{key}_exponent", len(iso[key]["samples"])
        low, high = iso[key]["ci95"]
        assert (metrics[f"{name}_ci95_low"], metrics[name], metrics[f"{name}_ci95_high"]) == pytest.approx(
            (low, iso[key]["exponent"], high)
        )
        assert metrics[f"clm_{key}_bootstrap_used"] == used > 0
        assert metrics[f"clm_{key}_bootstrap_failed"] == iso["bootstrap"] - used
    for key in ("alpha", "beta"):
        name = f"clm_parametric_{key}"
        got = (metrics[f"{name}_ci95_low"], metrics[name], metrics[f"{name}_ci95_high"])
        assert got == pytest.approx((law["ci95"][key][0], law[key], law["ci95"][key][1]))


def test_the_fit_runs_description_links_every_training_run_it_read(made):
    fits = json.loads(made.fits.read_text())
    fit = made.client.get_run(fits["fit_run_id"])
    links = LINK.findall(fit.data.tags[NOTE])
    assert sorted(run_id for *_, run_id in links) == sorted(r["run_id"] for r in fits["input_runs"])
    for name, experiment_id, run_id in links:  # the UI's address of that run: its experiment and id
        run = made.client.get_run(run_id)
        assert (run.info.run_name, run.info.experiment_id) == (name, experiment_id)
    exponent = fits["fits"]["clm"]["isoflop"]["n_opt"]["exponent"]
    assert f"| clm | N_opt ∝ C^a | {exponent:.3f} |" in fit.data.tags[NOTE]
    assert set(fit.data.tags["source_run_ids"].split(",")) == {r["run_id"] for r in fits["input_runs"]}


def test_the_store_holds_the_workflows_experiments_only(made):
    names = sorted(e.name for e in made.client.search_experiments())
    assert names == ["plm-scaling", "plm-scaling/analysis", "plm-scaling/paper"]  # no empty Default
