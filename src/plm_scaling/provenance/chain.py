"""The audit's hash chain, walked from the figure back to the FASTA (digests.py says who records what): each link
compares a file as it is now with the sha256 the step that made it (or read it) recorded, and names the first
link that does not hold, with both hashes."""

from __future__ import annotations

from pathlib import Path

from ..digests import CHECKPOINT, RUN_FILES, data_chain_problems, tag
from ..io import read_json, sha256_file
from ..study.fits_schema import read_fits


def _now(path: Path) -> str | None:
    return sha256_file(path) if path.is_file() else None


def _short(sha: str | None) -> str:
    return "none" if sha is None else sha[:12]


def input_problems(inputs: dict | None, reader: str) -> list[str]:
    """reader → the files it read: each file now against the sha256 recorded when `reader` read it."""
    if not inputs:
        return [f"{reader} records no sha256 of the files it read (made before the hash chain); rerun it"]
    problems = []
    for name, recorded in inputs.items():
        now = _now(Path(recorded["path"]))
        if now != recorded["sha256"]:
            problems.append(
                f"link {name} -> {reader}: {recorded['path']} sha256 {_short(now)} now, "
                f"{_short(recorded['sha256'])} when the {reader} read it"
            )
    return problems


def logged_output_problems(run, paths: list[Path], step: str) -> list[str]:
    """step's run → its outputs: each file now against the sha256 its MLflow run logged when it wrote it."""
    problems = []
    for path in paths:
        logged = run.data.tags.get(tag(path.name))
        if logged is None:
            problems.append(f"{step} run {run.info.run_id} logged no sha256 of {path.name} (before the hash chain)")
        elif _now(path) != logged:
            problems.append(
                f"link {step} run -> {path.name}: {path} sha256 {_short(_now(path))} now, "
                f"{_short(logged)} logged by {step} run {run.info.run_id}"
            )
    return problems


def run_file_problems(run, recorded: dict, root: Path) -> list[str]:
    """training run → its files → the fit: each file the fit read (its sha256 in the fits JSON) against the sha256
    the training or evaluate step logged, and against the file now; the final checkpoint now against its tag."""
    problems, tags, point = [], run.data.tags, recorded["sweep_point"]
    run_dir, read = root / recorded["run_dir"], recorded.get("files") or {}
    for name in RUN_FILES:
        logged = tags.get(tag(name))
        if name not in read and logged is None:
            continue  # a run the study did not evaluate has no metrics.json
        if logged is None:
            problems.append(f"training run {run.info.run_id} ({point}) logged no sha256 of {name}; rerun it")
        elif read.get(name) != logged:
            problems.append(
                f"link run -> fit: {point} {name}: the fit read sha256 {_short(read.get(name))}, "
                f"training run {run.info.run_id} logged {_short(logged)}"
            )
        if name in read and _now(run_dir / name) != read[name]:
            problems.append(
                f"link run files: {run_dir / name} sha256 {_short(_now(run_dir / name))} now, "
                f"{_short(read[name])} when the fit read it"
            )
    logged = tags.get(tag(CHECKPOINT))
    if logged is None or _now(run_dir / CHECKPOINT) != logged:
        problems.append(
            f"link run -> checkpoint: {run_dir / CHECKPOINT} sha256 {_short(_now(run_dir / CHECKPOINT))} now, "
            f"{_short(logged)} logged by training run {run.info.run_id} ({point})"
        )
    return problems


def history_problems(client, run, recorded: dict, root: Path) -> list[str]:
    """The run's validation curve in curve.csv against the val_loss history in its MLflow run (step = tokens):
    every point, exactly (both are the same float)."""
    import csv

    path = root / recorded["run_dir"] / "curve.csv"
    if not path.is_file():
        return [f"{path} is missing"]
    with open(path, newline="") as fh:
        curve = {int(r["tokens"]): float(r["val_loss"]) for r in csv.DictReader(fh)}
    history = sorted(client.get_metric_history(run.info.run_id, "val_loss"), key=lambda m: m.timestamp)
    late = [m for m in history if run.info.end_time and m.timestamp > run.info.end_time]
    if late:  # training logs its curve while it runs: a value logged after it ended was put there since
        return [
            f"link MLflow -> curve.csv: {recorded['sweep_point']} has {len(late)} val_loss values logged after "
            f"training run {run.info.run_id} ended"
        ]
    logged = {m.step: m.value for m in history}  # a resumed run logs a step again: the last one counts
    for tokens, loss in curve.items():
        if logged.get(tokens) != loss:
            return [
                f"link MLflow -> curve.csv: {recorded['sweep_point']} val_loss at {tokens:,} tokens is {loss!r} in "
                f"curve.csv, {logged.get(tokens)!r} in training run {run.info.run_id}"
            ]
    return []


def _param_path(run, key: str, root: Path) -> Path | None:
    """A path the run was configured with (its logged Hydra parameter `key`), under `root` unless absolute."""
    value = run.data.params.get(key)
    if value in (None, "", "None"):
        return None
    return Path(value) if Path(value).is_absolute() else root / value


def manifest_problems(run, recorded: dict, root: Path, seen: dict) -> list[str]:
    """training run → its data: the manifest it trained on (its logged parameter data.manifest) against the sha256
    it logged (named for the first run that logged each value); then, once per manifest, the data chain back to the
    FASTA (digests.data_chain_problems), for the manifest it was evaluated on besides (a data-variant study's
    held-out set); and code augmentation's corpus against the sha256 the run logged of it."""
    manifest, point = _param_path(run, "data.manifest", root), recorded["sweep_point"]
    if manifest is None:
        return [f"training run {run.info.run_id} ({point}) logged no data.manifest parameter"]
    logged = run.data.tags.get("data_manifest_sha256")
    problems = []
    if _now(manifest) != logged and ("link", str(manifest), logged) not in seen:  # once per manifest and value
        seen[("link", str(manifest), logged)] = True
        problems.append(
            f"link data -> run: {manifest} sha256 {_short(_now(manifest))} now, {_short(logged)} logged by training "
            f"run {run.info.run_id} ({point})"
        )
    corpus = _param_path(run, "data.aux.corpus", root)
    mixed = run.data.tags.get("aux_corpus_sha256")  # code augmentation: the corpus mixed into its data
    if corpus is not None and mixed is not None and _now(corpus) != mixed:
        problems.append(
            f"link corpus -> run: {corpus} sha256 {_short(_now(corpus))} now, {_short(mixed)} logged by training "
            f"run {run.info.run_id} ({point})"
        )
    for path in (manifest, _param_path(run, "data.eval_manifest", root)):
        if path is not None and path.is_file() and str(path) not in seen:
            seen[str(path)] = data_chain_problems(path, root)
            problems += seen[str(path)]
    return problems


def paper_fit_problems(side: dict, fit_run) -> list[str]:
    """Paper stage: figure → fits JSON (logged by the fit run) → loss table (read by the fit)."""
    fits_path = Path(side["inputs"]["fits.json"]["path"])
    problems = logged_output_problems(fit_run, [fits_path], "fit") if fit_run is not None else []
    if not fits_path.is_file():
        return problems
    return problems + input_problems(read_fits(fits_path, "paper").get("provenance", {}).get("inputs"), "paper fit")


def fits_of(side: dict) -> dict:
    """The fits (or check) JSON the figure was drawn from, as it is now ({} when it is gone: a problem already)."""
    path = Path(side.get("inputs", {}).get("fits.json", {}).get("path", ""))
    return read_fits(path) if path.name and path.is_file() else {}


def fit_output_problems(fit, fits: dict, side: dict) -> list[str]:
    """fit run → fits JSON, loss table, fits table (each against the sha256 the fit run logged); for the
    extrapolation check, the plan and the study fit it was planned from (against the sha256 it recorded)."""
    if fit is None or not fits:
        return []
    paths = [Path(side["inputs"]["fits.json"]["path"]), Path(fits["loss_table"])]
    problems = logged_output_problems(fit, paths + ([Path(fits["fits_table"])] if "fits_table" in fits else []), "fit")
    rounds = fits.get("rounds", [])
    if rounds:  # an adaptive study: each round's plan against the sha256 the fit recorded
        recorded = {f"round {r['round']} plan.json": {"path": r["plan"], "sha256": r["sha256"]} for r in rounds}
        problems += input_problems(recorded, "study fit")
    planned = fits.get("planned_from", {})
    if "plan_sha256" in planned:
        plan = read_json(planned["plan"])
        problems += input_problems(
            {
                "plan.json": {"path": planned["plan"], "sha256": planned["plan_sha256"]},
                "fits.json": {"path": plan["fits"], "sha256": planned["fits_sha256"]},
            },
            "extrapolation check",
        )
    return problems


def run_chain_problems(runs, run, recorded: dict, fits: dict, seen: dict) -> list[str]:
    """One input run's links: its files against what the fit read and training logged, its MLflow curve against
    curve.csv, its checkpoint, and its data back to the FASTA."""
    root = Path(fits.get("workdir", "."))
    if "files" not in recorded:
        return [f"{recorded['sweep_point']}: the fit recorded no sha256 of the run's files (before the hash chain)"]
    return (
        run_file_problems(run, recorded, root)
        + history_problems(runs.client, run, recorded, root)
        + manifest_problems(run, recorded, root, seen)
    )


def point_problems(fits: dict, side: dict) -> list[str]:
    """The runs the fit read are the study's points (the extrapolation check's: its plan's), each once: a fit handed
    a chosen subset of runs, or one run twice, is re-derived as it was made, so only this comparison sees it."""
    if not fits:
        return []
    points = [r["sweep_point"] for r in fits["input_runs"]]
    problems = [
        f"fit: sweep point {p} was read {points.count(p)} times" for p in sorted(set(points)) if points.count(p) > 1
    ]
    expected = _expected_points(fits)
    for what, names in (("missing from", expected - set(points)), ("not in", set(points) - expected)):
        if names:
            shown = ", ".join(sorted(names)[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            problems.append(f"fit: runs of sweep points {shown} are {what} what the study defines")
    read = {r["run_id"] for r in fits["input_runs"]}
    problems += [
        f"figure: input run {r['run_id']} ({r['sweep_point']}) is not among the runs the fit read"
        for r in side["input_runs"]
        if r["run_id"] not in read
    ]
    return problems


def _expected_points(fits: dict) -> set[str]:
    """The sweep points the step that wrote `fits` should have read: the study file's (fit), the plan's (check)."""
    from ..study.study_file import load_study
    from ..study.sweeps import expand

    if fits.get("derivation", {}).get("step") == "check":
        return set(read_json(fits["planned_from"]["plan"])["points"])
    rounds = {p for r in fits.get("rounds", []) for p in _round_points(r)}  # an adaptive study's planned points
    return set(expand(load_study(fits["study_file"]).spec)) | rounds  # defaults filled, as the workflow reads it


def _round_points(recorded: dict) -> list[str]:
    """The points a round's plan names now (its sha256 is checked separately); a plan that is gone names none."""
    from ..study.rounds import read_round

    path = Path(recorded["plan"])
    return list(read_round(path)["points"]) if path.is_file() else []
