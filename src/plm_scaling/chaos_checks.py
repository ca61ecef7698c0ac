"""What a kill could have broken in a workflow folder (plm_scaling/chaos.py kills, then asks `problems`): fits that
differ from an undisturbed run's, MLflow runs left RUNNING or trained twice, orphaned temporary files, run folders
without their checkpoints, figures that no longer audit, and adaptive rounds planned again after a kill."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from .io import read_json, sha256_file

RESULTS = "results"
# Keys of fits.json (a key, or parent.key) whose values say where runs were logged, not what they measured: MLflow
# run ids (another store gives other ids), the store's URI, the digests of the loss table and of each run's run.json
# and metrics.json (they hold run ids), the hash of the study file (it names files by absolute path) and the sha256
# of a transfer source's checkpoint (Lightning's callback state in it holds the checkpoint folder's absolute path;
# its weights are compared through the losses). Every other value must be equal, numbers to the last bit (NaN equal
# to NaN; curve.csv digests byte for byte); paths are compared relative to each workflow's folder.
STORE_KEYS = ("run_id", "fit_run_id", "tracking_uri", "table_digest", "config_hash", "init.sha256")
STORE_KEYS += ("files.run.json", "files.metrics.json", "rounds.sha256")  # a round's plan names its MLflow runs


def decided_plans(workdir: Path) -> dict[str, str]:
    """sha256 of each adaptive round's plan written so far (study/rounds.py), by path under `workdir`."""
    plans = sorted((workdir / RESULTS).glob("studies/*/rounds/*/plan.json"))
    return {str(p.relative_to(workdir)): sha256_file(p) for p in plans}


def replan_problems(workdir: Path) -> list[str]:
    """A round's plan rewritten after a kill: once written, a round is decided, and a rerun must only continue it."""
    report, first = workdir / "chaos.json", {}
    attempts = read_json(report)["attempts"] if report.is_file() else []
    problems = []
    for i, outcome in enumerate(attempts):
        for path, sha in outcome.get("plans", {}).items():
            if first.setdefault(path, sha) != sha:
                problems.append(f"{path} changed in attempt {i + 1}: a decided round was planned again")
    return problems


def fits_differences(ours, reference, where: str = "fits.json") -> list[str]:
    """Every value of `ours` that differs from `reference` (numbers exactly), store-specific keys aside."""
    if isinstance(ours, dict) and isinstance(reference, dict):
        out = [f"{where}: keys {sorted(set(ours) ^ set(reference))} differ"] if set(ours) != set(reference) else []
        for key in sorted(set(ours) & set(reference)):
            if key not in STORE_KEYS and f"{where.rsplit('.', 1)[-1].split('[')[0]}.{key}" not in STORE_KEYS:
                out += fits_differences(ours[key], reference[key], f"{where}.{key}")
        return out
    if isinstance(ours, list) and isinstance(reference, list) and len(ours) == len(reference):
        return [d for i, (a, b) in enumerate(zip(ours, reference)) for d in fits_differences(a, b, f"{where}[{i}]")]
    both_nan = isinstance(ours, float) and isinstance(reference, float) and ours != ours and reference != reference
    return [] if ours == reference or both_nan else [f"{where}: {ours!r} != {reference!r}"]


def _relative_json(path: Path, workdir: Path):
    """A JSON file with its workflow folder's absolute path replaced by a placeholder."""
    return json.loads(path.read_text().replace(str(workdir.resolve()), "<workflow>"))


def store_problems(tracking_uri: str) -> list[str]:
    """MLflow runs left RUNNING, and sweep points with more than one training run."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    problems, points = [], {}
    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id], max_results=5000):
            name = f"{exp.name}/{run.info.run_name} ({run.info.run_id})"
            if run.info.status == "RUNNING":
                problems.append(f"MLflow run {name} is still RUNNING")
            if run.data.tags.get("snakemake_rule") == "train":
                points.setdefault((exp.name, run.data.tags.get("sweep_point")), []).append(run.info.run_id)
    for (exp, point), ids in sorted(points.items()):
        if len(ids) > 1:
            problems.append(f"sweep point {point} has {len(ids)} training runs in {exp}: {', '.join(ids)}")
    return problems


def file_problems(workdir: Path) -> list[str]:
    """Orphaned temporary files under results/, and run folders without their checkpoints or completion record."""
    results = workdir / RESULTS
    problems = [
        f"orphaned temporary file {p.relative_to(workdir)}"
        for p in results.rglob("*")
        if p.is_file() and (".tmp" in p.name or p.name.startswith("tmp"))
    ]
    for run in sorted(results.glob("studies/*/runs/*")):
        for need in ("run.json", "final.ckpt", "checkpoints/last.ckpt", "metrics.json"):
            if not (run / need).is_file():
                problems.append(f"run folder {run.relative_to(workdir)} lost {need}")
    return problems


def audit_problems(workdir: Path) -> list[str]:
    """Every study and paper figure, audited (the `audit` command's own function)."""
    from .provenance.audit import audit

    problems = []
    for figure in sorted((workdir / RESULTS).glob("**/figures/*.png")):
        with contextlib.chdir(workdir):  # the sidecar names the workflow's files relative to its folder
            _, found = audit(figure.resolve())
        problems += [f"audit {figure.relative_to(workdir)}: {p}" for p in found]
    return problems


def problems(workdir: Path, reference_fits: Path, reference_workdir: Path, tracking_uri: str) -> list[str]:
    """Everything a kill could have broken, against the fits.json of an undisturbed run of the same study in
    `reference_workdir` (empty: nothing was lost)."""
    found = []
    for fits in sorted((workdir / RESULTS).glob("studies/*/fits.json")):
        ours, theirs = _relative_json(fits, workdir), _relative_json(reference_fits, reference_workdir)
        found += fits_differences(ours, theirs, str(fits.relative_to(workdir)))
    found += replan_problems(workdir)
    return found + store_problems(tracking_uri) + file_problems(workdir) + audit_problems(workdir)
