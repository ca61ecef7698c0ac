"""The runs behind a figure, as the audit reads them: the store (opened read-only), each run's state and losses,
the runs it started from or was filtered by, the released curves, and what changed since (stale)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..code_stages import sha256_text, stage_hash
from ..digests import CHECKPOINT, tag
from ..io import sha256_file
from ..tracking import sqlite_path


def _is_mlflow_db(db: Path) -> bool:
    """Whether a sqlite file holds MLflow's tables, looked at read-only (a plain open would create it)."""
    try:
        with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True) as con:
            return bool(con.execute("select 1 from sqlite_master where name = 'experiments'").fetchone())
    except sqlite3.Error:
        return False


class Runs:
    """Looks runs up in the store the sidecar names; a missing or deleted run becomes a problem (a deleted run still
    answers get_run, so its lifecycle stage is checked)."""

    def __init__(self, tracking_uri: str, problems: list[str]):
        from mlflow import MlflowClient

        self.client, self.uri, self.problems = None, tracking_uri, problems
        db = sqlite_path(tracking_uri)
        if db is not None and not db.is_file():  # MLflow would create an empty store there: audit only reads
            problems.append(f"MLflow store {db} is missing (audit never creates one)")
            return
        if db is not None and not _is_mlflow_db(db):  # MLflow would write its schema into it
            problems.append(f"MLflow store {db} is not an MLflow database (audit never creates one)")
            return
        try:
            client = MlflowClient(tracking_uri=tracking_uri)
            client.search_experiments(max_results=1)
        except Exception as err:  # noqa: BLE001 (connection errors come as several types)
            problems.append(f"MLflow store {tracking_uri} does not answer ({type(err).__name__}); is its server up?")
            return
        self.client = client

    def get(self, run_id: str, what: str, detail: str = ""):
        from mlflow.exceptions import MlflowException

        if self.client is None:
            return None
        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            self.problems.append(f"{what} {run_id}{detail} is missing from {self.uri}")
            return None
        if run.info.lifecycle_stage != "active":
            self.problems.append(f"{what} {run_id}{detail} is {run.info.lifecycle_stage} in {self.uri}")
        return run


def input_run_problems(run, recorded: dict) -> list[str]:
    """The run as the figure used it: finished, with the same training-time and full-split losses."""
    problems, name = [], f"input run {recorded['run_id']} ({recorded['sweep_point']})"
    # a divergence recorded by training (trainer.on_divergence=record) ends its MLflow run FAILED, tagged `diverged`
    expected = "FAILED" if recorded.get("diverged") else "FINISHED"
    if run.info.status != expected or (recorded.get("diverged") and not run.data.tags.get("diverged")):
        problems.append(
            f"{name} is {run.info.status}" + (" (recorded as diverged)" if recorded.get("diverged") else "")
        )
    metrics = run.data.metrics
    for key, metric in (("final_val_loss", "final_val_loss"), ("valid_loss", "eval/valid_loss")):
        was, now = recorded.get(key), metrics.get(metric)
        if was is not None and (now is None or abs(now - was) > 1e-9):
            problems.append(f"{name} changed: {metric} {was:.6f} -> {now}")
    return problems


def filter_lines(run, runs: Runs) -> list[str]:
    """A run trained on perplexity-filtered data: the run whose model scored it (checked in the store)."""
    reference_id = run.data.tags.get("data_filter_run_id")
    if not reference_id:
        return []
    reference = runs.get(reference_id, "filtering run", f" (scored the data of {point_of(run)})")
    if reference is None:
        return [f"      │  └─ data filtered by run {reference_id}  MISSING"]
    if reference.info.status != "FINISHED":
        runs.problems.append(f"filtering run {reference_id} is {reference.info.status}")
    used, logged = run.data.tags.get("data_filter_checkpoint_sha256"), reference.data.tags.get(tag(CHECKPOINT))
    if used != logged:  # the data was scored by another model than the one that run saved
        runs.problems.append(
            f"link filtering run -> data: scored with a checkpoint of sha256 {str(used)[:12]}, run {reference_id} "
            f"logged {str(logged)[:12]}"
        )
    return [f"      │  └─ data filtered by {point_of(reference)} (run {reference_id}, {reference.info.status})"]


def point_of(run) -> str:
    """A training run as the lineage names it: its sweep point id (the run folder's name; its MLflow run's name has
    the exact N instead of the target's), else the MLflow run's name."""
    return run.data.tags.get("sweep_point", run.info.run_name)


def init_lines(init: dict | None, runs: Runs) -> list[str]:
    """A transferred run's source: the pre-training run it started from, and its checkpoint's sha256."""
    if not init:
        return []
    source = runs.get(init["run_id"], "pre-training run", f" ({init['sweep_point']})")
    status = "MISSING" if source is None else f"run {source.info.run_id}"
    logged = source.data.tags.get(tag(CHECKPOINT)) if source is not None else init["sha256"]
    if logged != init["sha256"]:  # the weights it started from are not the ones that run saved
        runs.problems.append(
            f"link pre-training run -> {init['sweep_point']}: started from a checkpoint with sha256 "
            f"{init['sha256'][:12]}, run {init['run_id']} logged {str(logged)[:12]}"
        )
    return [f"      │  └─ started from {init['sweep_point']} (checkpoint {init['sha256'][:12]})  {status}"]


def recipe_lines(recipe: dict | None, runs: Runs, root: Path | None) -> list[str]:
    """A run trained with a tuned recipe (study key recipe): the recipe file as the run read it, which must still be
    the file there, and the tuning study's fit run it came from. `root`: the folder a relative path names (the fit's
    workdir, where the workflow ran), None when the fits JSON that records it is gone (a broken link already): a
    relative path is then not looked for (runs recorded before paths were relative name it absolute)."""
    if not recipe:
        return []
    path, recorded = Path(recipe["path"]) if root is None else root / recipe["path"], recipe["sha256"]
    checked = path.is_absolute()  # not a relative path with no workdir to name it
    now = sha256_file(path) if checked and path.is_file() else None
    if checked and now != recorded:  # the run trained with another recipe than the one there now
        runs.problems.append(
            f"link recipe -> run: {path} {'now has sha256 ' + now[:12] if now else 'is missing'}, the run trained "
            f"with {recorded[:12]}"
        )
    study = recipe["study"]
    fit = runs.get(recipe["fit_run_id"], "tuning fit run", f" (study {study})") if recipe["fit_run_id"] else None
    status = "MISSING" if fit is None else f"fit run {fit.info.run_id}"
    tuned = f"{recorded[:12]}, {recipe['runs']} tuning runs"
    return [f"      │  └─ trained with the recipe of study {study} ({tuned})  {status}"]


def released_lines(side: dict, runs: Runs) -> list[str]:
    """One line per released curve the fit read: its file, sha256 and run (each checked in the store)."""
    lines = [f"      released curves: {len(side['released_runs'])} runs of experiment {side['experiment']}"]
    for r in side["released_runs"]:
        run = runs.get(r["run_id"], "released run", f" ({r['source']})")
        if run is not None and run.data.tags.get("sha256") != r["sha256"]:
            runs.problems.append(f"released run {r['run_id']} ({r['source']}) records another sha256")
        lines.append(f"      ├─ {r['source']}  sha256 {r['sha256'][:12]}  run {r['run_id']}")
    return lines


def released_problems(side: dict) -> list[str]:
    """A released CSV changed, vanished, or the analysis code changed since the figure was made."""
    root, problems = Path(side["paper_logs"]), []
    from ..analysis.logs import file_digests

    now = file_digests(root) if root.is_dir() else {}
    for r in side["released_runs"]:
        if now.get(r["source"]) != r["sha256"]:
            state = "is missing" if r["source"] not in now else "changed since the figure was made"
            problems.append(f"stale: released CSV {root / r['source']} {state}")
    return problems + _code_problems(side, ("analysis",))


def _code_problems(side: dict, stages: tuple[str, ...]) -> list[str]:
    return [
        f"stale: {stage} code or configuration changed since the figure was made "
        f"({side['code'][stage]} -> {stage_hash(stage)})"
        for stage in stages
        if stage_hash(stage) != side["code"][stage]
    ]


def stale_problems(side: dict) -> list[str]:
    """Code, configuration, study file, data or the authors' logs fitted beside them changed since the figure was
    made."""
    problems = _code_problems(side, ("train", "analysis"))
    if side.get("paper_table"):  # a transfer study fits the authors' released logs beside its runs
        table = Path(side["paper_table"]["path"])
        if not table.exists() or sha256_file(table) != side["paper_table"]["sha256"]:
            problems.append(f"stale: the authors' loss table {table} changed since the figure was made")
    study_file = Path(side["study_file"])
    if not study_file.exists() or sha256_text(study_file.read_text()) != side["config_hash"]:
        problems.append(f"stale: study config {study_file} changed since the figure was made")
    manifest = Path(side["data_manifest"])
    if not manifest.exists() or sha256_file(manifest) != side["data_hash"]:
        problems.append(f"stale: data manifest {manifest} changed since the figure was made")
    return problems


def fmt(loss: float | None) -> str:
    return "n/a" if loss is None else f"{loss:.4f}"
