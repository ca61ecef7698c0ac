#!/usr/bin/env bash
# The whole DAG of a study on one GPU machine, timed: data -> train -> evaluate -> fit -> figure -> report -> audit.
#   bash benchmarks/gpu_quick.sh [OUT]       (STUDY=gpu-quick, PROFILE=profiles/gpu by default)
# Prints the wall time of each phase and the study's fits; copies the figure, fits.json, the report and the per-job
# timings (Snakemake benchmarks) to OUT (default results/gpu-quick-out), and the fits table with an adaptive study's
# round plans as OUT/study.tar.gz. The paper stage is left out. GPU_JOBS: training/evaluation jobs sharing the GPU
# (default: the profile's). RESUME=1: unlock first, to continue a run that was killed (e.g. at a time limit).
# EXTRA_CONFIG: more --config KEY=VALUE words, split on spaces, e.g. a dataset's FASTA elsewhere (gpu_remote.sh):
#   EXTRA_CONFIG='datasets={"uniprot_example":{"fasta":"/data/DB.fasta.gz"}}'  (nested keys merge into config.yaml's)
set -euo pipefail
study=${STUDY:-gpu-quick}
profile=${PROFILE:-profiles/gpu}
out=${1:-results/gpu-quick-out}
py=${PYTHON:-python3}
read -ra extra <<<"${EXTRA_CONFIG:-}"
smk=("${SNAKEMAKE:-snakemake}" --workflow-profile "$profile" --config "study=$study" paper_logs=null "${extra[@]}"
     --scheduler greedy --cores "${CORES:-all}" ${GPU_JOBS:+--resources "gpu_jobs=$GPU_JOBS"})
mkdir -p "$out"
[ -n "${RESUME:-}" ] && "${smk[@]}" --unlock  # RESUME=1: continue after a kill (a killed Snakemake leaves its lock)
SECONDS=0
"${smk[@]}"
t1=$SECONDS
"${smk[@]}" --report "$out/report.html"
t2=$SECONDS
dir=results/studies/$study
"$py" -m plm_scaling.cli audit "$dir/figures/isoflop.png" | tee "$out/audit.txt"
cp "$dir/fits.json" "$dir/figures/isoflop.png" "$out/"
tar -czf "$out/study.tar.gz" -C "$dir" fits_table.csv $(cd "$dir" && ls -d rounds 2>/dev/null)
"$py" - "$study" "$out/jobs.tsv" <<'PY'
import csv, glob, sys
study, dest = sys.argv[1], sys.argv[2]
rows = []
for path in sorted(glob.glob(f"results/benchmarks/{study}/**/*.tsv", recursive=True)):
    with open(path) as f:
        row = next(csv.DictReader(f, delimiter="\t"))
    rows.append((path.split(f"{study}/", 1)[1], float(row["s"]), row["max_rss"]))
with open(dest, "w") as f:
    f.writelines(f"{name}\t{s:.1f}\t{rss}\n" for name, s, rss in rows)
train = [s for name, s, _ in rows if name.startswith("train/")]
print(f"{len(train)} training jobs: {sum(train):.0f} s in all, longest {max(train):.0f} s")
PY
echo "wall: workflow $t1 s, report $((t2 - t1)) s" | tee "$out/wall.txt"
