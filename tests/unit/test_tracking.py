"""The MLflow store as a user meets it, in a real sqlite store (one, made as the workflow makes it):
the workflow's experiments without MLflow's empty Default beside them, the UI address of each experiment's runs
table, training runs named by the N they have with N, C, D as numbers that sort, the audit naming a run by its sweep
point, and a fit's description that stays within MLflow's limit on a tag."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from mlflow import MlflowClient
from mlflow.utils.validation import MAX_TAG_VAL_LENGTH
from omegaconf import OmegaConf

from plm_scaling.mlflow_ui import experiment_urls
from plm_scaling.provenance.audit_runs import Runs, filter_lines
from plm_scaling.study.fit_tracking import NOTE_LIMIT, description
from plm_scaling.tracking import ensure_experiment, init_store
from plm_scaling.training import mlflow_run
from plm_scaling.training.plan import make_plan
from plm_scaling.training.train import compose_config

from ..conftest import tiny_overrides

UI = "http://127.0.0.1:5000"


def _logger(small_manifest, run_dir, uri, target):
    """A training run's MLflow run as train() opens it (mlflow_run.logger), without the training."""
    overrides = [*tiny_overrides(small_manifest, run_dir, f"model.target_params={target}", "objective=mlm")]
    cfg = compose_config([*overrides, f"logger.tracking_uri={uri}", "logger.experiment=plm-scaling/s"])
    plan = make_plan(cfg)
    run_dir.mkdir(exist_ok=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    return plan, mlflow_run.logger(cfg, plan, run_dir, None)


@pytest.fixture(scope="module")
def store(small_manifest, tmp_path_factory):
    """Two training runs' MLflow runs in a store made as the workflow makes it (`study init`), the first opened twice
    (a resume)."""
    root = tmp_path_factory.mktemp("tracking")
    uri = f"sqlite:///{root}/mlflow.db"
    init_store(uri, "plm-scaling/s", root / "mlflow_store.json")
    small, first = _logger(small_manifest, root / "small", uri, 1000)
    large, _ = _logger(small_manifest, root / "large", uri, 10000)
    again = _logger(small_manifest, root / "small", uri, 1000)[1]
    assert again.run_id == first.run_id  # a resume reopens the run
    return SimpleNamespace(uri=uri, client=MlflowClient(uri), small=small, large=large, experiment=first.experiment_id)


def _run_of(store, plan):
    """A training run found the way everything finds one: by its sweep point's tag, never by its name."""
    (run,) = store.client.search_runs([store.experiment], f"tags.sweep_point = '{plan.sweep_point}'")
    return run


def test_a_training_run_is_named_by_its_n_and_logs_n_c_d_as_numbers(store):
    for plan in (store.small, store.large):
        run = _run_of(store, plan)
        assert plan.sweep_point.startswith("mlm_N") and f"_N{plan.n}_" not in plan.sweep_point
        assert run.info.run_name == plan.sweep_point.replace(plan.sweep_point.split("_")[1], f"N{plan.n}")
        assert run.data.tags["N"] == str(plan.n)  # the tags stay as they were
        sizes = {"N": plan.n, "C": plan.flops, "C_full": plan.flops_full, "D": plan.tokens}
        assert {k: run.data.metrics[k] for k in sizes} == pytest.approx(sizes)
        for key in sizes:  # logged once, not again on resume
            assert [m.step for m in store.client.get_metric_history(run.info.run_id, key)] == [0]
    # a number sorts as one: the two Ns in the other order as text
    small, large = store.small.n, store.large.n
    assert str(small) > str(large) and small < large
    ordered = store.client.search_runs([store.experiment], order_by=["metrics.N ASC"])
    assert [r.data.metrics["N"] for r in ordered] == [small, large]


def test_the_audit_names_a_run_by_its_sweep_point(store):
    reference = _run_of(store, store.small)
    filtered = SimpleNamespace(
        info=SimpleNamespace(run_name="clm_N816_C4e09_vfiltered_s0"),
        data=SimpleNamespace(tags={"data_filter_run_id": reference.info.run_id, "sweep_point": "clm_N1000_vf"}),
    )
    problems: list[str] = []
    lines = filter_lines(filtered, Runs(store.uri, problems))
    assert lines == [f"      │  └─ data filtered by {store.small.sweep_point} (run {reference.info.run_id}, RUNNING)"]
    assert problems == [f"filtering run {reference.info.run_id} is RUNNING"]  # never finished: no training here


def test_a_store_the_workflow_made_has_no_empty_default_experiment(store):
    client = store.client
    # MLflow's Default is deleted, not gone: MLflow sees it when it opens the store again, and makes no new one
    assert [e.name for e in client.search_experiments()] == ["plm-scaling/s"]
    assert client.get_experiment("0").lifecycle_stage == "deleted"
    url = f"{UI}/#/experiments/{store.experiment}/runs"  # its runs table, which `make mlflow-ui` prints
    assert [line.split() for line in experiment_urls(store.uri, UI)] == [["plm-scaling/s", "2", "runs", url]]
    # a Default in a store that was there before (MLflow's own, a tracking server's, or one restored) is left alone
    client.restore_experiment("0")
    try:
        ensure_experiment(store.uri, "plm-scaling/s/analysis")
        names = sorted(e.name for e in client.search_experiments())
        assert names == ["Default", "plm-scaling/s", "plm-scaling/s/analysis"]
    finally:
        client.delete_experiment("0")


def test_the_ui_address_of_a_store_that_is_not_there_yet(tmp_path):
    assert experiment_urls(f"sqlite:///{tmp_path}/none.db", UI) == [
        f"no MLflow store at {tmp_path}/none.db yet (`make reproduce` makes it)"
    ]
    assert not (tmp_path / "none.db").exists()  # looked at, not created


def test_a_fits_description_keeps_to_mlflows_limit_on_a_tag():
    runs = [
        {"run_id": None, "sweep_point": f"clm_N{n}_C1e11_s0", "objective": "clm", "n": n, "flops": 1e11}
        | {"tokens": 1e7, "valid_loss": 3.0}
        for n in range(1380, 980, -1)
    ]
    note = description("fit", "big", {}, runs, client=None)
    assert len(note) <= MAX_TAG_VAL_LENGTH and NOTE_LIMIT < MAX_TAG_VAL_LENGTH
    shown = [line.split(" | ")[2] for line in note.splitlines() if line.startswith("| clm_N")]
    assert shown == [str(n) for n in range(981, 981 + len(shown))]  # by N as a number (981 before 1000)
    assert 20 < len(shown) < len(runs) and note.endswith(
        f"... and {len(runs) - len(shown)} more (all: tag source_run_ids, fits.json's input_runs)"
    )
