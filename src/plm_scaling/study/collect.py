"""Finished training runs of a study as the tidy loss table (the same table the paper stage fits)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

from ..analysis.table import GIGAFLO, Table
from ..digests import RUN_FILES
from ..names import RUN_SUMMARY
from ..sweep_point import SweepPoint


def _read(run_dir: Path, root: Path) -> tuple[dict, dict, list[dict], dict[str, str]]:
    """(run.json, metrics.json or {}, curve rows, sha256 of each file as read): hashed from the very bytes parsed,
    so the fit records what it used (digests.py)."""
    raw = {name: (root / run_dir / name).read_bytes() for name in RUN_FILES if (root / run_dir / name).exists()}
    if "run.json" not in raw or "curve.csv" not in raw:
        raise ValueError(f"{run_dir}: no run.json or curve.csv (the run has not finished)")
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in raw.items()}
    metrics = json.loads(raw["metrics.json"]) if "metrics.json" in raw else {}
    curve = list(csv.DictReader(io.StringIO(raw["curve.csv"].decode(), newline="")))
    return json.loads(raw["run.json"]), metrics, curve, digests


def _point_fields(done: dict, run_dir: Path) -> dict | None:
    """The sweep point's fields run.json records (training wrote them from the point's id), checked to name it."""
    fields = done.get("point")
    if fields is not None and SweepPoint(**fields).id != done["sweep_point"]:
        raise ValueError(f"{run_dir}/run.json: point {fields} does not name sweep_point {done['sweep_point']}")
    return fields


def _curve_rows(done: dict, metrics: dict, curve: list[dict], run_dir: Path, study: str) -> list[dict]:
    """The loss table's rows of one run: one per validation point, the last on the whole validation split."""
    if metrics.get("valid_loss") is not None:
        # The run's end point on the whole validation split (evaluate step) rather than the fixed subset
        # used during training: at CPU scale, IsoFLOP differences (~0.01 nat) are that subset's noise.
        curve[-1] = {**curve[-1], "val_loss": metrics["valid_loss"]}
    return [
        {
            "objective": done["objective"],
            "size_label": f"N{done['n']}",
            "n": float(done["n"]),
            "run": done["sweep_point"],
            "x_kind": "gigaflos",
            "x": float(point["flops"]) / GIGAFLO,
            "x_full": float(point["flops_full"]) / GIGAFLO,
            "loss": float(point["val_loss"]),
            "source": str(run_dir / "curve.csv"),
            "group": f"study/{study}/{done['objective']}",
            "metric": "valid_loss",
            "row": float(i),
            "wall_time": 0.0,
            "duplicate_of": "",
        }
        for i, point in enumerate(curve)
    ]


def collect(run_dirs: list[str | Path], study: str, root: str | Path = ".") -> tuple[Table, list[dict]]:
    """(table, runs): one table row per validation point (x in gigaflos, as the paper's logs), and per run its
    MLflow run id, sweep point, objective, N, compute, final losses and the sha256 of the files read. Run folders
    are read under `root` (audit re-collects from the folder the fit ran in) and named as given."""
    rows, runs = [], []
    for run_dir in sorted(Path(d) for d in run_dirs):
        done, metrics, curve, digests = _read(run_dir, Path(root))
        if not curve and not done.get("diverged"):
            raise ValueError(f"{run_dir}/curve.csv: no validation points")
        if done.get("diverged"):  # recorded, not fitted: its curve up to the blow-up is no point of any profile
            curve = []
        rows += _curve_rows(done, metrics, curve, run_dir, study)
        count = done.get("flops_count", "paper")  # which FLOPs the run's budget was met in (runs before it: paper)
        runs.append(
            {
                **{k: done[k] for k in RUN_SUMMARY},
                # C as the run's budget counts it, so that every grouping by budget (seed noise, mask ratio,
                # extrapolation, transfer) finds the budget the run was trained for
                "flops": done["flops_full"] if count == "full" else done["flops"],
                "flops_count": count,
                "point": _point_fields(done, run_dir),  # the axes the analysis groups and selects runs by
                "valid_loss": metrics.get("valid_loss"),
                "unique_tokens": done.get("unique_tokens"),  # U: the train part's framed tokens (repeated data)
                "init": done.get("init"),  # the run a transferred run started from, with its compute
                # the optimiser settings it trained with (a tuning study's cells) and the tuned recipe, if any
                **{k: done.get(k) for k in ("lr", "beta2", "recipe")},
                **({"diverged": done["diverged"]} if done.get("diverged") else {}),  # trainer.on_divergence=record
                "run_dir": str(run_dir),
                "files": digests,
                **{
                    k: metrics[k]
                    for k in ("mask_ratio", "common_mask_ratio", "valid_loss_common", "valid_loss_common_data")
                    if k in metrics
                },
            }
        )
    if not rows:
        raise ValueError(f"study {study}: no finished runs to collect")
    return Table.from_rows(rows), runs
