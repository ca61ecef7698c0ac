"""Kill a workflow at random moments and check that nothing was lost.

`python -m plm_scaling.chaos WORKDIR --kills K --seed S --study STUDY` runs the study undisturbed in one copy of the
workflow (WORKDIR/reference), and again in another (WORKDIR/killed): K times, at a random moment of a run, it kills
the whole process tree with SIGKILL (Snakemake and every job it started: every process of the session it was
started in), then runs the same command again, after the `snakemake --unlock` that a killed Snakemake needs, until
a run completes. Then it checks what a user relies on (`problems`): the same fits as the undisturbed run, every
figure auditing clean, no MLflow run left RUNNING, one training run per sweep point, no orphaned temporary file,
every run folder with its checkpoints. It writes WORKDIR/chaos.json: each kill's moment, the jobs it interrupted,
and what was found.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from .chaos_checks import RESULTS, decided_plans, problems
from .io import write_json


def session_pids(leader: int) -> list[int]:
    """Every process of the session that `leader` started (start_new_session): Snakemake and its jobs."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == leader:
                    pids.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                continue
    return pids


def running_jobs(pids: list[int]) -> list[str]:
    """The project's commands among `pids` (`train run.id=...`, `evaluate RUN`, `study fit ...`), shortened."""
    jobs = []
    for pid in pids:
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "plm_scaling.cli" in args:
            rest = [a for a in args[args.index("plm_scaling.cli") + 1 :] if a]
            point = next((a.split("=", 1)[1] for a in rest if a.startswith("run.id=")), None)
            jobs.append(" ".join([*rest[:2], point] if point else rest[:3]))
    return sorted(set(jobs))


def kill_tree(leader: int) -> list[str]:
    """SIGKILL every process of the session; returns the project jobs that were running."""
    pids = session_pids(leader)
    jobs = running_jobs(pids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return jobs


class Aim(NamedTuple):
    """A phase of the study to kill in: a job whose name (as running_jobs gives it) starts with `job` is running,
    and with `checkpointed`, its run folder holds a checkpoint and no run.json (a training run mid-run)."""

    job: str
    checkpointed: bool = False

    def seen(self, jobs: list[str], workdir: Path) -> bool:
        points = [j.rsplit(" ", 1)[-1] for j in jobs if j.startswith(self.job)]
        runs = [r for p in points for r in (workdir / RESULTS).glob(f"studies/*/runs/{p}")] if self.checkpointed else []
        mid_run = any((r / "checkpoints" / "last.ckpt").is_file() and not (r / "run.json").exists() for r in runs)
        return mid_run if self.checkpointed else bool(points)


def attempt(cmd: list[str], workdir: Path, log: Path, delay: float | None, fault=None, fault_aim=None, aim=None):
    """One run of `cmd`, killed `delay` seconds after it starts (or, with an Aim `aim`, after its phase is first
    seen) unless it ends first (or `delay` is None). `fault`, a callable, is called once while the run goes on (e.g.
    the tracking server killed and restarted): as soon as the Aim `fault_aim` is seen, or else at half the delay."""
    start, record, seen = time.monotonic(), {}, None if aim else 0.0
    with open(log, "a") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        while proc.poll() is None:
            now = time.monotonic() - start
            jobs = running_jobs(session_pids(proc.pid)) if aim or fault_aim else []
            seen = now if seen is None and aim.seen(jobs, workdir) else seen
            due = fault_aim.seen(jobs, workdir) if fault_aim else delay is not None and now >= delay / 2
            if fault is not None and not record and due:
                record = {"fault_after_s": round(now, 2), "fault_during": jobs or running_jobs(session_pids(proc.pid))}
                fault()
            elif delay is not None and seen is not None and now >= seen + delay:
                jobs = kill_tree(proc.pid)
                proc.wait()
                time.sleep(0.2)  # a job's own children die with the session; let the kernel reap them
                kill_tree(proc.pid)  # a process forked while we killed: once more
                hit = {"aim": aim.job, "hit": any(j.startswith(aim.job) for j in jobs)} if aim else {}
                return {"killed": True, "after_s": round(now, 2), "interrupted": jobs, **hit, **record}
            time.sleep(0.2)
    return {"killed": False, "returncode": proc.returncode, "seconds": round(time.monotonic() - start, 2), **record}


def outputs_made(workdir: Path) -> int:
    """How many outputs the workflow has finished (files under results/, logs, benchmarks and temporaries aside)."""
    results = workdir / RESULTS
    skip = {"logs", "benchmarks"}
    return sum(
        1
        for p in results.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(results).parts[:1]) and not p.name.startswith(".")
    )


def run_with_kills(
    snakemake: list[str], workdir: Path, kills: int, seed: int, window: tuple, fault=None, aims=(), fault_at=(2, None)
) -> dict:
    """Run `snakemake` to completion in `workdir`, killing it `kills` times at moments drawn from `window` (seconds
    after each start; with `aims`, Aims in the study's order, once in each phase, that long after it is first seen).
    A run that ends before its kill does not count as a kill (the loop stops there). A randomly killed run that
    finished no output doubles the window, so that the study moves on under a slow machine too. `fault` (a callable)
    strikes once in attempt `fault_at[0]`: at the Aim `fault_at[1]`, or else halfway to its kill."""
    rng, log, history = random.Random(seed), workdir / "chaos.log", []
    low, high = window
    unlock = [*snakemake, "--unlock"]
    while sum(h["killed"] for h in history) < (len(aims) or kills):
        before = outputs_made(workdir) if (workdir / RESULTS).is_dir() else 0
        strike = (fault, fault_at[1]) if len(history) == fault_at[0] else (None, None)
        aim = aims[len(history)] if aims else None
        outcome = attempt(snakemake, workdir, log, rng.uniform(low, high), *strike, aim=aim)
        outcome["plans"] = decided_plans(workdir)
        history.append(outcome)
        if not outcome["killed"]:
            break
        outcome["outputs_made"] = outputs_made(workdir) - before
        if outcome["outputs_made"] == 0 and not aims:
            low, high = 2 * low, 2 * high
        subprocess.run(unlock, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    if history[-1]["killed"]:
        history.append({**attempt(snakemake, workdir, log, None), "plans": decided_plans(workdir)})
    report = {"seed": seed, "window_s": list(window), "aims": [list(a) for a in aims], "attempts": history}
    write_json(workdir / "chaos.json", report)
    return report


WORKFLOW = ("Snakefile", "rules", "config", "profiles", "envs", "src")  # a copy of the workflow (rules hash src)


def copy_workflow(source: Path, dest: Path, config: dict, name: str = "chaos_config.yaml") -> Path:
    """A copy of the workflow in `source` under `dest`, with its config file `name`: the project's config.yaml with
    its MLflow store inside the copy, updated with `config`. Returns the config file."""
    import yaml

    for item in WORKFLOW:
        (shutil.copytree if (source / item).is_dir() else shutil.copy)(source / item, dest / item)
    cfg = yaml.safe_load((source / "config" / "config.yaml").read_text())
    cfg["mlflow"] = {"tracking_uri": f"sqlite:///{dest.resolve()}/{RESULTS}/mlflow.db", "experiment": "plm-scaling"}
    cfg.update(config)
    path = dest / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def snakemake_command(wf: Path, configfile: Path, cores: int) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(wf / "Snakefile"), "--directory", str(wf)] + [
        *["--configfile", str(configfile), "--cores", str(cores)]
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m plm_scaling.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir", type=Path, help="a new folder: the undisturbed and the killed copy go here")
    parser.add_argument("--workflow", type=Path, default=Path("."), help="the checkout whose workflow is copied")
    parser.add_argument("--study", default="smoke", help="the study (config/studies/STUDY.yaml)")
    parser.add_argument("--kills", type=int, default=10, help="how many kills land before a run may complete")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--window", type=float, nargs=2, default=(4.0, 40.0), help="kill A..B s after each start")
    parser.add_argument("--cores", type=int, default=2)
    a = parser.parse_args(argv)
    if a.workdir.exists() and any(a.workdir.iterdir()):
        parser.error(f"{a.workdir} is not empty: give a new folder")
    config = {"study": a.study, "paper_logs": None, "analysis": {"bootstrap": 100, "seed": 0}}
    runs = {}
    for name in ("reference", "killed"):
        wf = a.workdir / name
        wf.mkdir(parents=True)
        runs[name] = snakemake_command(wf, copy_workflow(a.workflow, wf, config), a.cores)
    undisturbed = attempt(runs["reference"], a.workdir / "reference", a.workdir / "reference" / "chaos.log", None)
    if undisturbed["returncode"]:
        print(f"the undisturbed run failed (rc {undisturbed['returncode']}): see {a.workdir}/reference/chaos.log")
        return 1
    killed = a.workdir / "killed"
    report = run_with_kills(runs["killed"], killed, a.kills, a.seed, tuple(a.window))
    fits = a.workdir / "reference" / RESULTS / "studies" / a.study / "fits.json"
    uri = f"sqlite:///{killed.resolve()}/{RESULTS}/mlflow.db"
    report["problems"] = problems(killed, fits, a.workdir / "reference", uri)
    write_json(a.workdir / "chaos.json", report)
    print(summary(report))
    return 1 if report["problems"] or report["attempts"][-1].get("returncode") else 0


def summary(report: dict) -> str:
    kills = [h for h in report["attempts"] if h["killed"]]
    lines = [f"{len(kills)} kills; final run rc {report['attempts'][-1].get('returncode')}"]
    lines += [f"  kill at {k['after_s']} s: {', '.join(k['interrupted']) or 'no project job running'}" for k in kills]
    found = report.get("problems", [])
    return "\n".join(lines + (found or ["nothing lost: fits equal, audits clean, MLflow and run folders whole"]))


if __name__ == "__main__":
    sys.exit(main())
