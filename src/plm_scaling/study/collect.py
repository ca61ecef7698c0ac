"""Finished training runs of a study as the tidy loss table (the same table the paper stage fits)."""

from __future__ import annotations

import csv
from pathlib import Path

from ..analysis.table import Table
from ..io import read_json
from ..names import RUN_SUMMARY


def collect(run_dirs: list[str | Path], study: str) -> tuple[Table, list[dict]]:
    """(table, runs): one table row per validation point (x in gigaflos, as the paper's logs), and per run its
    MLflow run id, sweep point, objective, N, compute and final losses."""
    rows, runs = [], []
    for run_dir in sorted(Path(d) for d in run_dirs):
        done = read_json(run_dir / "run.json")
        metrics = read_json(run_dir / "metrics.json") if (run_dir / "metrics.json").exists() else {}
        with open(run_dir / "curve.csv", newline="") as fh:
            curve = list(csv.DictReader(fh))
        if not curve:
            raise ValueError(f"{run_dir}/curve.csv: no validation points")
        if metrics.get("valid_loss") is not None:
            # The run's end point on the whole validation split (evaluate step) rather than the fixed subset
            # used during training: at CPU scale, IsoFLOP differences (~0.01 nat) are that subset's noise.
            curve[-1] = {**curve[-1], "val_loss": metrics["valid_loss"]}
        for i, point in enumerate(curve):
            rows.append(
                {
                    "objective": done["objective"],
                    "size_label": f"N{done['n']}",
                    "n": float(done["n"]),
                    "run": done["sweep_point"],
                    "x_kind": "gigaflos",
                    "x": float(point["flops"]) / 1e9,
                    "loss": float(point["val_loss"]),
                    "source": str(run_dir / "curve.csv"),
                    "group": f"study/{study}/{done['objective']}",
                    "metric": "valid_loss",
                    "row": float(i),
                    "wall_time": 0.0,
                    "duplicate_of": "",
                }
            )
        runs.append(
            {
                **{k: done[k] for k in RUN_SUMMARY},
                "valid_loss": metrics.get("valid_loss"),
                "unique_tokens": done.get("unique_tokens"),  # U: the train part's framed tokens (repeated data)
                "init": done.get("init"),  # the run a transferred run started from, with its compute
                "run_dir": str(run_dir),
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
