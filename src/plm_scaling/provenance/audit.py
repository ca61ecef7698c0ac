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

import contextlib
import json
import os
import struct
import tempfile
import zlib
from pathlib import Path

from ..io import read_json, sha256_file
from ..names import SIDECAR
from ..study.figure import sidecar_path
from . import chain, rederive
from .audit_runs import (
    Runs,
    filter_lines,
    fmt,
    init_lines,
    input_run_problems,
    recipe_lines,
    released_lines,
    released_problems,
    stale_problems,
)


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


def _sidecar(figure: Path) -> Path | None:
    """The figure's own sidecar, or that of the output it was written beside (an .svg beside its .png, Table 2's
    .md beside its .csv), which records this file's sha256 as `<suffix>_sha256`."""
    if sidecar_path(figure).exists():
        return sidecar_path(figure)
    key = f"{figure.suffix.lstrip('.')}_sha256"
    for other in sorted(figure.parent.glob(f"{figure.stem}.*{SIDECAR}")):
        side = read_json(other)
        if key in side and side.get("file") != figure.name:
            return other
    return None


def _carried(figure: Path, side: dict) -> str:
    """The provenance text the figure file carries (the PNG's chunk; else the sidecar's, as it was written)."""
    main = figure.with_name(side["file"])
    embedded = png_text(main).get("Provenance") if main.suffix == ".png" and main.is_file() else None
    return embedded or json.dumps(_recorded(side), sort_keys=True)


def _recorded(side: dict) -> dict:
    """The provenance a sidecar records, without what it adds (the file's name and the outputs' sha256)."""
    return {k: v for k, v in side.items() if k != "file" and not k.endswith("sha256")}


def _file_problems(figure: Path, side: dict) -> list[str]:
    """The file's bytes and embedded provenance against the sidecar, and where it sits against where it belongs."""
    problems = []
    key = "sha256" if figure.name == side["file"] else f"{figure.suffix.lstrip('.')}_sha256"
    if sha256_file(figure) != side[key]:
        problems.append(f"{figure.name}: bytes differ from the sha256 recorded when it was made")
    embedded = png_text(figure).get("Provenance") if figure.suffix == ".png" else None
    if figure.suffix == ".png" and (embedded is None or json.loads(embedded) != _recorded(side)):
        problems.append(f"{figure.name}: embedded provenance is missing or differs from the sidecar")
    return problems + _location_problems(figure.with_name(side["file"]), side)


def audit(figure: str | Path, recompute: bool = True) -> tuple[list[str], list[str]]:
    """(lineage lines, problems). No problems: the figure is what its runs, code, config and data produced (and,
    with `recompute`, what they produce again). Whatever stops the audit is a problem line, never a traceback."""
    figure = Path(figure)
    if not figure.exists():
        return [], [f"{figure}: no such figure"]
    if _sidecar(figure) is None and "Provenance" not in (png_text(figure) if figure.suffix == ".png" else {}):
        # neither a sidecar nor embedded provenance: not a figure of a study or the paper stage (a data-stage plot
        # such as stats.png carries no lineage), which is a wrong argument (exit 2), not a changed figure (exit 1)
        raise ValueError(
            f"{figure}: no provenance (no sidecar {sidecar_path(figure).name}, none embedded): audit takes the "
            "figures of a study or of the paper stage"
        )
    lines: list[str] = []
    try:
        with _audit_environment():
            return _audit(figure, recompute, lines)
    except Exception as err:  # noqa: BLE001 (an old or damaged record: say what stopped the audit, and where)
        return lines, [f"{figure.name}: the audit stopped: {type(err).__name__}: {err}"]


# The audit's output is the lineage only, and a tracking server that is down is one line soon, not MLflow's retries
# for minutes per request. Set for the audit alone and restored after it: an audit run in-process (tests, notebooks)
# must not leave its one-retry setting to the training jobs started after it, which ride out a server restart.
AUDIT_ENVIRONMENT = {
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


@contextlib.contextmanager
def _audit_environment():
    saved = {key: os.environ.get(key) for key in AUDIT_ENVIRONMENT}
    for key, value in AUDIT_ENVIRONMENT.items():
        os.environ.setdefault(key, value)  # a user's own setting wins
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _audit(figure: Path, recompute: bool, lines: list[str]) -> tuple[list[str], list[str]]:
    side_path = _sidecar(figure)
    if side_path is None:  # a figure of the workflow whose sidecar is gone (see _never_had_provenance)
        return [], [f"{figure}: no provenance sidecar {sidecar_path(figure).name}"]
    side = read_json(side_path)
    main = figure.with_name(side["file"])  # an .svg or .md twin is checked with the file it was written beside
    problems = _file_problems(figure, side) + (_file_problems(main, side) if main != figure else [])
    runs = Runs(side["tracking_uri"], problems)
    if runs.client is None:
        return [], problems
    paper = side.get("kind") == "paper"
    lines.append(
        f"{figure.name}  sha256 {sha256_file(figure)[:12]}  " + ("paper stage" if paper else f"study {side['study']}")
    )
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
        problems += _paper_problems(figure, side, runs, fit, recompute, lines)
    else:
        problems += _study_problems(figure, side, runs, fit, recompute, lines)
    return lines, problems


def _paper_problems(figure: Path, side: dict, runs: Runs, fit, recompute: bool, lines: list[str]) -> list[str]:
    """The paper stage's links: the fit and its loss table, every released curve, and its re-derivation."""
    lines += released_lines(side, runs)
    problems = chain.paper_fit_problems(side, fit) + released_problems(side)
    if recompute and side.get("inputs"):
        problems += rederive.paper_figure_problems(figure, side, _carried(figure, side))
    dirty = " (dirty)" if side["code"]["dirty"] else ""
    lines.append(f"code {side['code']['revision'][:12]}{dirty}, released logs {side['paper_logs']}")
    return problems


def round_lines(rounds: list[dict], runs: Runs) -> list[str]:
    """An adaptive study's rounds as its fit recorded them: each plan, its MLflow run, what it planned, the stop."""
    lines = []
    for r in rounds:
        run = runs.get(r["run_id"], f"round {r['round']} run") if r["run_id"] else None
        status = f"run {run.info.run_id} ({run.info.status})" if run is not None else "no MLflow run"
        stop = f"; stop: {r['stop']}" if r["stop"] else ""
        lines.append(
            f"      ├─ round {r['round']}: plan {r['sha256'][:12]}, {len(r['points'])} runs planned, {status}{stop}"
        )
    return lines


def listing_order(run: dict) -> tuple:
    """Input runs are listed by objective, budget and size as numbers (ids in string order put N10000 before N2500)."""
    return run["objective"], run["flops"], run["n"], run["sweep_point"]


def _study_problems(figure: Path, side: dict, runs: Runs, fit, recompute: bool, lines: list[str]) -> list[str]:
    """A study's links: the fit's outputs and settings, each input run down to its data, stale inputs, and the
    figure's re-derivation."""
    lines.append("      loss plotted: full validation split (evaluate); in brackets: training-time validation windows")
    fits = chain.fits_of(side)
    problems = chain.fit_output_problems(fit, fits, side) + chain.point_problems(fits, side)
    lines += round_lines(fits.get("rounds", []), runs)
    recorded_runs, seen = {r["run_id"]: r for r in fits.get("input_runs", [])}, {}
    for r in sorted(side["input_runs"], key=listing_order):
        run = runs.get(r["run_id"], "input run", f" ({r['sweep_point']})")
        head = f"      ├─ {r['sweep_point']}: {r['objective']} N={r['n']:,} C={r['flops']:.3g}"
        if run is None:
            lines.append(head + "  MISSING")
            continue
        common = r.get("valid_loss_common_data")
        extra = f" (study held-out {common:.4f})" if common is not None else ""
        loss = f"loss {fmt(r.get('valid_loss'))} [{fmt(r.get('final_val_loss'))}]{extra}"
        loss = f"diverged ({r['diverged']}), not fitted" if r.get("diverged") else loss
        lines.append(f"{head} {loss}  run {run.info.run_id}")
        problems += input_run_problems(run, r)
        if r["run_id"] in recorded_runs:
            problems += chain.run_chain_problems(runs, run, recorded_runs[r["run_id"]], fits, seen)
        recipe = recipe_lines(r.get("recipe"), runs, Path(fits.get("workdir", ".")) if fits else None)
        lines += filter_lines(run, runs) + init_lines(r.get("init"), runs) + recipe
    problems += stale_problems(side)
    if recompute and fits:
        problems += rederive.study_figure_problems(figure, side, _carried(figure, side))
    dirty = " (dirty)" if side["code"]["dirty"] else ""
    table = f", authors' loss table {side['paper_table']['sha256'][:12]}" if side.get("paper_table") else ""
    lines.append(
        f"code {side['code']['revision'][:12]}{dirty}, config {side['config_hash'][:12]}, "
        f"data {side['data_hash'][:12]}{table}; fitted with {fits.get('derivation', 'no recorded settings')}"
    )
    return problems


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
