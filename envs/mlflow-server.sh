#!/usr/bin/env bash
# A shared MLflow tracking server for cluster jobs: they log over HTTP instead of writing one sqlite file on a
# network disk. Runs in the foreground; stop it with Ctrl-C (or kill). Settings from the environment:
#   MLFLOW_BACKEND    database of runs, params, metrics (default: sqlite file under results/; on a cluster use
#                     PostgreSQL, e.g. postgresql://user:pass@dbhost:5432/mlflow, with psycopg2 installed)
#   MLFLOW_ARTIFACTS  where the server stores artifacts it serves (default: results/mlartifacts-server)
#   MLFLOW_HOST       address to bind (default 127.0.0.1: this machine only; 0.0.0.0 exposes it to the network)
#   MLFLOW_PORT       port (default 5000)
# Then point the workflow at it: snakemake --config mlflow='{tracking_uri: "http://HOST:PORT", experiment: plm-scaling}'
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$here/.venv/bin/python}
backend=${MLFLOW_BACKEND:-sqlite:///$here/results/mlflow-server.db}
artifacts=${MLFLOW_ARTIFACTS:-$here/results/mlartifacts-server}
mkdir -p "$here/results" "$artifacts"
exec "$python" -m mlflow server --backend-store-uri "$backend" --artifacts-destination "$artifacts" \
  --host "${MLFLOW_HOST:-127.0.0.1}" --port "${MLFLOW_PORT:-5000}" --workers "${MLFLOW_WORKERS:-2}"
