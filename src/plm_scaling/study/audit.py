"""`plm-scaling audit FIGURE`: the figure's lineage, and whether it still holds.

Fails (exit 1, saying why) when the figure's bytes differ from those recorded or logged, when an input run is
missing or changed, or when the code, the study config or the data behind it changed since (stale).
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

from ..io import read_json, sha256_file
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


def audit(figure: str | Path) -> tuple[list[str], list[str]]:
    """(lineage lines, problems). No problems: the figure is what its runs, code, config and data produced."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # audit output is the lineage only
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    figure = Path(figure)
    side_path = sidecar_path(figure)
    if not figure.exists():
        return [], [f"{figure}: no such figure"]
    if not side_path.exists():
        return [], [f"{figure}: no provenance sidecar {side_path.name}"]
    side = read_json(side_path)
    problems = []
    if sha256_file(figure) != side["sha256"]:
        problems.append(f"{figure.name}: bytes differ from the sha256 recorded when it was made")
    embedded = png_text(figure).get("Provenance") if figure.suffix == ".png" else None
    recorded = {k: v for k, v in side.items() if k not in ("sha256", "svg_sha256", "file")}
    if figure.suffix == ".png" and (embedded is None or json.loads(embedded) != recorded):
        problems.append(f"{figure.name}: embedded provenance is missing or differs from the sidecar")

    client = MlflowClient(tracking_uri=side["tracking_uri"])

    def get(run_id: str):
        try:
            return client.get_run(run_id)
        except MlflowException:
            return None

    lines = [f"{figure.name}  sha256 {side['sha256'][:12]}  study {side['study']}"]
    producer = get(side["producing_run_id"])
    if producer is None:
        problems.append(f"producing run {side['producing_run_id']} is missing from {side['tracking_uri']}")
    else:
        lines.append(f"└─ figure run {producer.info.run_id} ({producer.info.run_name}, {producer.info.status})")
        try:
            logged = Path(client.download_artifacts(producer.info.run_id, figure.name))
            if sha256_file(logged) != sha256_file(figure):
                problems.append(f"{figure.name}: bytes differ from the artifact logged by run {producer.info.run_id}")
        except (MlflowException, OSError):
            problems.append(f"{figure.name}: run {producer.info.run_id} has no such artifact")
    fit = get(side["fit_run_id"])
    if fit is None:
        problems.append(f"fit run {side['fit_run_id']} is missing")
    else:
        lines.append(f"   └─ fit run {fit.info.run_id} (table digest {side['table_digest']}, {fit.info.status})")
    for r in side["input_runs"]:
        run = get(r["run_id"])
        head = f"      ├─ {r['sweep_point']}: {r['objective']} N={r['n']:,} C={r['flops']:.3g}"
        if run is None:
            problems.append(f"input run {r['run_id']} ({r['sweep_point']}) is missing")
            lines.append(head + "  MISSING")
            continue
        now = run.data.metrics.get("final_val_loss")
        lines.append(f"{head} final loss {r['final_val_loss']:.4f}  run {run.info.run_id}")
        if run.info.status != "FINISHED":
            problems.append(f"input run {r['run_id']} ({r['sweep_point']}) is {run.info.status}")
        if now is None or abs(now - r["final_val_loss"]) > 1e-9:
            problems.append(f"input run {r['run_id']} ({r['sweep_point']}) changed: final_val_loss "
                            f"{r['final_val_loss']:.6f} -> {now}")  # fmt: skip
    for stage in ("train", "analysis"):
        if stage_hash(stage) != side["code"][stage]:
            problems.append(f"stale: {stage} code changed since the figure was made "
                            f"({side['code'][stage]} -> {stage_hash(stage)})")  # fmt: skip
    study_file = Path(side["study_file"])
    if not study_file.exists() or sha256_text(study_file.read_text()) != side["config_hash"]:
        problems.append(f"stale: study config {study_file} changed since the figure was made")
    manifest = Path(side["data_manifest"])
    if not manifest.exists() or sha256_file(manifest) != side["data_hash"]:
        problems.append(f"stale: data manifest {manifest} changed since the figure was made")
    lines.append(f"code {side['code']['revision'][:12]}{' (dirty)' if side['code']['dirty'] else ''}, "
                 f"config {side['config_hash'][:12]}, data {side['data_hash'][:12]}")  # fmt: skip
    return lines, problems
