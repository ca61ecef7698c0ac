"""`plm-scaling audit FIGURE`: the figure's lineage, and whether it still holds.

Fails (exit 1, saying why) when the figure's bytes differ from those recorded or logged, when it sits where another
figure belongs, when a run it names is missing, deleted or changed, when a link of the hash chain from the figure
back to the FASTA does not hold (chain.py: figure → fits JSON → run files, MLflow history, checkpoint → manifest →
shards → FASTA), when the code, configuration, study config, data or released CSVs behind it changed since (stale),
and, with re-derivation (the default), when the fit recomputed from the runs or the figure redrawn from it differs
from what was recorded (rederive.py). Study figures trace to their training runs; paper figures (and Table 2) to
the released curves' runs. The audit reads: it writes nothing but temporary files, and never creates a store.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib
from pathlib import Path

from ..io import read_json, sha256_file
from ..names import SIDECAR
from ..tracking import sqlite_path
from . import chain, rederive
from .figure import sidecar_path
from .lineage import sha256_text, stage_hash


def png_text(path: Path) -> dict[str, str]:
    """tEXt / iTXt / zTXt chunks of a PNG."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    out, pos = {}, 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            out[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"zTXt":
            key, _, value = body.partition(b"\0")
            out[key.decode("latin-1")] = zlib.decompress(value[1:]).decode("latin-1")
        elif kind == b"iTXt":
            key, _, rest = body.partition(b"\0")
            compressed, rest = rest[0], rest[2:]
            _, _, rest = rest.partition(b"\0")
            _, _, text = rest.partition(b"\0")
            out[key.decode("latin-1")] = (zlib.decompress(text) if compressed else text).decode("utf-8")
        pos += 12 + length
    return out


class _Runs:
    """Looks runs up in the store the sidecar names; a missing or deleted run becomes a problem (a deleted run still
    answers get_run, so its lifecycle stage is checked)."""

    def __init__(self, tracking_uri: str, problems: list[str]):
        from mlflow import MlflowClient

        self.client, self.uri, self.problems = None, tracking_uri, problems
        db = sqlite_path(tracking_uri)
        if db is not None and not db.is_file():  # MLflow would create an empty store there: audit only reads
            problems.append(f"MLflow store {db} is missing (audit never creates one)")
            return
        # a tracking server that is down: one line at once, not MLflow's retries for minutes per request
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
        client = MlflowClient(tracking_uri=tracking_uri)
        try:
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


def _sidecar(figure: Path) -> Path | None:
    """The figure's own sidecar, or that of the output it was written beside (an .svg beside its .png, Table 2's
    .md beside its .csv), which records this file's sha256 as `<suffix>_sha256`."""
    if sidecar_path(figure).exists():
        return sidecar_path(figure)
    key = f"{figure.suffix.lstrip('.')}_sha256"
    for other in sorted(figure.parent.glob(f"{figure.stem}.*{SIDECAR}")):
        if key in read_json(other) and read_json(other)["file"] != figure.name:
            return other
    return None


def _carried(figure: Path, side: dict) -> str:
    """The provenance text the figure file carries (the PNG's chunk; else the sidecar's, as it was written)."""
    main = figure.with_name(side["file"])
    embedded = png_text(main).get("Provenance") if main.suffix == ".png" and main.is_file() else None
    recorded = {k: v for k, v in side.items() if k != "file" and not k.endswith("sha256")}
    return embedded or json.dumps(recorded, sort_keys=True)


def _file_problems(figure: Path, side: dict) -> list[str]:
    """The file's bytes and embedded provenance against the sidecar, and where it sits against where it belongs."""
    problems = []
    key = "sha256" if figure.name == side["file"] else f"{figure.suffix.lstrip('.')}_sha256"
    if sha256_file(figure) != side[key]:
        problems.append(f"{figure.name}: bytes differ from the sha256 recorded when it was made")
    embedded = png_text(figure).get("Provenance") if figure.suffix == ".png" else None
    recorded = {k: v for k, v in side.items() if k != "file" and not k.endswith("sha256")}
    if figure.suffix == ".png" and (embedded is None or json.loads(embedded) != recorded):
        problems.append(f"{figure.name}: embedded provenance is missing or differs from the sidecar")
    return problems + _location_problems(figure.with_name(side["file"]), side)


def audit(figure: str | Path, recompute: bool = True) -> tuple[list[str], list[str]]:
    """(lineage lines, problems). No problems: the figure is what its runs, code, config and data produced (and,
    with `recompute`, what they produce again)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # audit output is the lineage only
    figure = Path(figure)
    if not figure.exists():
        return [], [f"{figure}: no such figure"]
    side_path = _sidecar(figure)
    if side_path is None:
        return [], [f"{figure}: no provenance sidecar {sidecar_path(figure).name}"]
    side = read_json(side_path)
    problems = _file_problems(figure, side)
    runs = _Runs(side["tracking_uri"], problems)
    if runs.client is None:
        return [], problems
    paper = side.get("kind") == "paper"
    lines = [f"{figure.name}  sha256 {side['sha256'][:12]}  " + ("paper stage" if paper else f"study {side['study']}")]
    producer = runs.get(side["producing_run_id"], "producing run")
    if producer is not None:
        lines.append(f"└─ figure run {producer.info.run_id} ({producer.info.run_name}, {producer.info.status})")
        problems += _artifact_problems(runs.client, producer, figure)
    fit = runs.get(side["fit_run_id"], "fit run")
    if fit is not None:
        lines.append(f"   └─ fit run {fit.info.run_id} (table digest {side['table_digest']}, {fit.info.status})")
    if side.get("planned_from"):  # the extrapolation check: its runs were planned from the study's fit
        base = runs.get(side["planned_from"]["fit_run_id"], "fit run the check was planned from")
        if base is not None:
            lines.append(f"   └─ planned from fit run {base.info.run_id} ({base.info.status})")
    problems += chain.input_problems(side.get("inputs"), "figure")
    if paper:
        lines += _released_lines(side, runs)
        problems += chain.paper_fit_problems(side, fit) + _released_problems(side)
        if recompute and side.get("inputs"):
            problems += rederive.paper_figure_problems(figure, side, _carried(figure, side))
        lines.append(
            f"code {side['code']['revision'][:12]}{' (dirty)' if side['code']['dirty'] else ''}, "
            f"released logs {side['paper_logs']}"
        )
        return lines, problems
    lines.append("      loss plotted: full validation split (evaluate); in brackets: training-time validation windows")
    fits = chain.fits_of(side)
    problems += chain.fit_output_problems(fit, fits, side)
    recorded_runs, seen = {r["run_id"]: r for r in fits.get("input_runs", [])}, {}
    for r in side["input_runs"]:
        run = runs.get(r["run_id"], "input run", f" ({r['sweep_point']})")
        head = f"      ├─ {r['sweep_point']}: {r['objective']} N={r['n']:,} C={r['flops']:.3g}"
        if run is None:
            lines.append(head + "  MISSING")
            continue
        common = r.get("valid_loss_common_data")
        extra = f" (study held-out {common:.4f})" if common is not None else ""
        lines.append(
            f"{head} loss {_fmt(r.get('valid_loss'))} [{r['final_val_loss']:.4f}]{extra}  run {run.info.run_id}"
        )
        problems += _input_run_problems(run, r)
        if r["run_id"] in recorded_runs:
            problems += chain.run_chain_problems(runs.client, run, recorded_runs[r["run_id"]], fits, seen)
        lines += _filter_lines(run, runs)
        lines += _init_lines(r.get("init"), runs)
    problems += _stale_problems(side)
    if recompute and fits:
        problems += rederive.study_figure_problems(figure, side, _carried(figure, side))
    lines.append(
        f"code {side['code']['revision'][:12]}{' (dirty)' if side['code']['dirty'] else ''}, "
        f"config {side['config_hash'][:12]}, data {side['data_hash'][:12]}"
        + (f", authors' loss table {side['paper_table']['sha256'][:12]}" if side.get("paper_table") else "")
    )
    return lines, problems


def _filter_lines(run, runs: _Runs) -> list[str]:
    """A run trained on perplexity-filtered data: the run whose model scored it (checked in the store)."""
    reference_id = run.data.tags.get("data_filter_run_id")
    if not reference_id:
        return []
    reference = runs.get(reference_id, "filtering run", f" (scored the data of {run.info.run_name})")
    if reference is None:
        return [f"      │  └─ data filtered by run {reference_id}  MISSING"]
    if reference.info.status != "FINISHED":
        runs.problems.append(f"filtering run {reference_id} is {reference.info.status}")
    return [f"      │  └─ data filtered by {reference.info.run_name} (run {reference_id}, {reference.info.status})"]


def _released_lines(side: dict, runs: _Runs) -> list[str]:
    """One line per released curve the fit read: its file, sha256 and run (each checked in the store)."""
    lines = [f"      released curves: {len(side['released_runs'])} runs of experiment {side['experiment']}"]
    for r in side["released_runs"]:
        run = runs.get(r["run_id"], "released run", f" ({r['source']})")
        if run is not None and run.data.tags.get("sha256") != r["sha256"]:
            runs.problems.append(f"released run {r['run_id']} ({r['source']}) records another sha256")
        lines.append(f"      ├─ {r['source']}  sha256 {r['sha256'][:12]}  run {r['run_id']}")
    return lines


def _released_problems(side: dict) -> list[str]:
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


def _fmt(loss: float | None) -> str:
    return "n/a" if loss is None else f"{loss:.4f}"


def _location_problems(figure: Path, side: dict) -> list[str]:
    """A figure and sidecar copied over another study's figure name their own study: compare with where it sits."""
    recorded = side.get("location")
    if recorded is None:
        return [f"{figure.name}: the sidecar records no location (made before locations were recorded); rerun it"]
    here = "/".join(figure.resolve().parts[-len(Path(recorded).parts) :])
    if here != recorded:
        return [f"{figure.name}: sits at {here} but its provenance was made for {recorded} (study {side['study']})"]
    return []


def _artifact_problems(client, producer, figure: Path) -> list[str]:
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory(prefix="plm-audit-") as tmp:  # MLflow's default keeps a copy for ever
        try:
            logged = Path(client.download_artifacts(producer.info.run_id, figure.name, dst_path=tmp))
        except (MlflowException, OSError):
            return [f"{figure.name}: run {producer.info.run_id} has no such artifact"]
        if sha256_file(logged) != sha256_file(figure):
            return [f"{figure.name}: bytes differ from the artifact logged by run {producer.info.run_id}"]
    return []


def _input_run_problems(run, recorded: dict) -> list[str]:
    """The run as the figure used it: finished, with the same training-time and full-split losses."""
    problems, name = [], f"input run {recorded['run_id']} ({recorded['sweep_point']})"
    if run.info.status != "FINISHED":
        problems.append(f"{name} is {run.info.status}")
    metrics = run.data.metrics
    for key, metric in (("final_val_loss", "final_val_loss"), ("valid_loss", "eval/valid_loss")):
        was, now = recorded.get(key), metrics.get(metric)
        if was is not None and (now is None or abs(now - was) > 1e-9):
            problems.append(f"{name} changed: {metric} {was:.6f} -> {now}")
    return problems


def _init_lines(init: dict | None, runs: _Runs) -> list[str]:
    """A transferred run's source: the pre-training run it started from, and its checkpoint's sha256."""
    if not init:
        return []
    source = runs.get(init["run_id"], "pre-training run", f" ({init['sweep_point']})")
    status = "MISSING" if source is None else f"run {source.info.run_id}"
    return [f"      │  └─ started from {init['sweep_point']} (checkpoint {init['sha256'][:12]})  {status}"]


def _stale_problems(side: dict) -> list[str]:
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
