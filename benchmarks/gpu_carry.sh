#!/usr/bin/env bash
# Fills .whl/ and .deb/ (both git-ignored) with what benchmarks/gpu_remote.sh needs on the GPU machine, whose image
# has Python 3.12, torch, lightning, numpy, scipy, pandas, matplotlib, pyyaml, jinja2, psutil, requests, protobuf ...
# but no Snakemake, Hydra, MLflow, MMseqs2 or the embedded data, and no network.   bash benchmarks/gpu_carry.sh
# Wheels: the names below at the versions of envs/requirements.lock, for CPython 3.12 on x86-64 Linux, no
# dependencies resolved: the closure of snakemake, hydra-core, mlflow-skinny with its sqlite:/// store (sqlalchemy,
# alembic, cryptography: the store imports its registry tables too), jsonschema and isal, minus what the image holds.
# mlflow-skinny, not mlflow: the full package adds only the UI (~30 MB of JavaScript) and server extras. Left out:
# pulp (16 MB of bundled solvers), which Snakemake imports only for its ilp scheduler; gpu_quick.sh runs the greedy one.
# Debs (amd64): mmseqs2, its data (mmseqs2-examples: DB.fasta.gz) and the libraries the binary needs that an Ubuntu
# CUDA image may lack (libgzstream0 is Debian/universe-only; libatomic1, libgomp1, libbz2 usually exist: carried to be
# sure). The binary also needs glibc >= 2.34, libstdc++ with GLIBCXX_3.4.29 (GCC 11+) and zlib from the image.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
names=(
  snakemake snakemake-interface-common snakemake-interface-executor-plugins snakemake-interface-logger-plugins
  snakemake-interface-report-plugins snakemake-interface-scheduler-plugins snakemake-interface-storage-plugins
  argparse-dataclass conda-inject configargparse docutils dpath fastjsonschema gitdb gitpython humanfriendly
  immutables jupyter-core nbformat platformdirs smart-open smmap sqlmodel tenacity throttler traitlets yte
  jsonschema jsonschema-specifications referencing rpds-py
  hydra-core omegaconf
  mlflow-skinny mlflow-tracing sqlalchemy greenlet alembic mako cachetools databricks-sdk google-auth pyasn1
  pyasn1-modules fastapi starlette uvicorn pydantic pydantic-core annotated-types typing-inspection importlib-metadata
  opentelemetry-api opentelemetry-proto opentelemetry-sdk opentelemetry-semantic-conventions python-dotenv sqlparse
  cryptography cffi pycparser isal
)
sdist_only=(connection-pool antlr4-python3-runtime)  # no wheel on PyPI: built here (pure Python, py3-none-any)
plat=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform manylinux_2_5_x86_64)
pins=()
for n in "${names[@]}" "${sdist_only[@]}"; do  # the locked version: names compare case-insensitively, with -, _ and . alike
  pin=$(grep -iE "^${n//-/[-_.]}==" envs/requirements.lock) || { echo "gpu_carry: $n is not in envs/requirements.lock" >&2; exit 1; }
  pins+=("$pin")
done
rm -rf .whl .deb && mkdir -p .whl .deb
"$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 \
  "${plat[@]}" -d .whl "${pins[@]:0:${#names[@]}}"
"$py" -m pip wheel -q --no-deps -w .whl "${pins[@]:${#names[@]}}"
(cd .deb && apt-get download -q mmseqs2:amd64 mmseqs2-examples libgzstream0:amd64 libatomic1:amd64 libgomp1:amd64 \
  libbz2-1.0:amd64)
du -sh .whl .deb
