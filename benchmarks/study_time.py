"""Where a study's time went: job-seconds and CPU-seconds per rule (Snakemake benchmark files; CPU-seconds are
what a busy machine does not inflate) and, inside training jobs, each phase summed over the runs (their
timing.json: imports, start-up, steps, validation, checkpoints, logging, finish; runs trained before timing.json
existed: the time in training steps estimated as tokens / logged tokens-per-second).

    python benchmarks/study_time.py STUDY [--wall SECONDS]
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

from mlflow import MlflowClient


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("study")
    ap.add_argument("--wall", type=float, help="wall-clock seconds of the whole snakemake run")
    ap.add_argument("--results", default="results")
    a = ap.parse_args()
    res = Path(a.results)
    # The points of the study's last fit: spec files of points dropped from an earlier grid stay behind.
    fits = json.loads((res / "studies" / a.study / "fits.json").read_text())
    points = {r["sweep_point"] for r in fits["input_runs"]}
    per_rule, cpu_per_rule = defaultdict(float), defaultdict(float)
    for tsv in res.glob("benchmarks/**/*.tsv"):
        rule = tsv.parent.name if tsv.parent.name not in (a.study,) else tsv.stem
        if rule in ("train", "evaluate") and tsv.stem not in points:
            continue
        if a.study in tsv.parts or "data" in tsv.parts or "paper" in tsv.parts:
            with open(tsv) as fh:
                rows = list(csv.DictReader(fh, delimiter="\t"))
            per_rule[rule] += float(rows[-1]["s"])
            cpu_per_rule[rule] += float(rows[-1]["cpu_time"])
    step_seconds, phases = 0.0, defaultdict(float)
    store = json.loads((res / "studies" / a.study / "mlflow_store.json").read_text())
    client = MlflowClient(tracking_uri=store["tracking_uri"])
    for run_json in (res / "studies" / a.study / "runs").glob("*/run.json"):
        if run_json.parent.name not in points:
            continue
        done = json.loads(run_json.read_text())
        timing = run_json.parent / "timing.json"
        if timing.exists():
            for phase, seconds in json.loads(timing.read_text())["seconds"].items():
                phases[phase] += seconds
            continue
        history = client.get_metric_history(done["run_id"], "perf/tokens_per_s")
        if history:
            mean_tps = sum(h.value for h in history) / len(history)
            step_seconds += done["tokens"] / mean_tps
    total = sum(per_rule.values())
    print(f"{'rule':<20}{'job-seconds':>12}{'share':>8}{'CPU-seconds':>13}")
    for rule, s in sorted(per_rule.items(), key=lambda kv: -kv[1]):
        print(f"{rule:<20}{s:>12.0f}{s / total:>8.1%}{cpu_per_rule[rule]:>13.0f}")
    print(f"{'all jobs':<20}{total:>12.0f}{'':>8}{sum(cpu_per_rule.values()):>13.0f}")
    if phases:
        summed = ", ".join(f"{k} {v:.0f} s" for k, v in phases.items())
        print(f"training jobs, summed over runs (timing.json): {summed}")
    if step_seconds:
        print(
            f"training steps (tokens / logged tokens per second): {step_seconds:.0f} job-seconds, "
            f"{step_seconds / total:.1%} of all job-seconds; outside training steps: {1 - step_seconds / total:.1%}"
        )
    if a.wall:
        print(f"wall clock {a.wall:.0f} s; job-seconds / wall = {total / a.wall:.2f} (parallelism)")


if __name__ == "__main__":
    main()
