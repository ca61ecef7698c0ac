#!/usr/bin/env bash
# A shared MLflow tracking server for cluster jobs: they log over HTTP instead of writing one sqlite file on a
# network disk. Runs in the foreground; stop it with Ctrl-C (or kill). Settings from the environment:
#   MLFLOW_BACKEND    database of runs, params, metrics (default: sqlite file under results/; on a cluster use
#                     PostgreSQL, e.g. postgresql://user:pass@dbhost:5432/mlflow, with psycopg2 installed)
#   MLFLOW_ARTIFACTS  where the server stores artifacts it serves (default: results/mlartifacts-server)
#   MLFLOW_HOST       address to bind (default 127.0.0.1: this machine only; 0.0.0.0 exposes it to the network)
#   MLFLOW_PORT       port (default 5000; 0: a free one, which the server's log names: "Uvicorn running on URL")
# Then point the workflow at it: snakemake --config mlflow='{tracking_uri: "http://HOST:PORT", experiment: plm-scaling}'
# Exits 1 with a one-line message when the port is taken: `mlflow server` itself logs the error and exits 0.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$here/.venv/bin/python}
backend=${MLFLOW_BACKEND:-sqlite:///$here/results/mlflow-server.db}
artifacts=${MLFLOW_ARTIFACTS:-$here/results/mlartifacts-server}
host=${MLFLOW_HOST:-127.0.0.1}
port=${MLFLOW_PORT:-5000}
mkdir -p "$here/results" "$artifacts"
flags=$(mktemp -d)
trap 'rm -rf "$flags"' EXIT
# The server's stderr passes through unchanged, line by line as it comes (awk would hold lines back in its input
# buffer); the filter only notes whether the bind failed.
exec 4> >(
  trap '' INT TERM HUP  # it ends with the server's last line, so that its shutdown messages are shown too
  while IFS= read -r line || [ -n "$line" ]; do
    printf '%s\n' "$line" >&2
    case $line in *"ddress already in use"*) : >"$flags/in-use" ;; esac
  done
)
filter=$!
# Not exec'd (the exit status below needs this shell), so this shell passes a stop on to the server, which stops its
# workers (a background job ignores the terminal's Ctrl-C by itself).
server=''
trap 'signalled=1; [ -z "$server" ] || kill -TERM "$server" 2>/dev/null || true' INT TERM HUP
"$python" -m mlflow server --backend-store-uri "$backend" --artifacts-destination "$artifacts" \
  --host "$host" --port "$port" --workers "${MLFLOW_WORKERS:-2}" 2>&4 &
server=$!
if [ -n "${signalled:-}" ]; then kill -TERM "$server"; fi  # a stop that came before the server
exec 4>&-
while :; do
  signalled='' status=0
  wait "$server" || status=$?
  [ -n "$signalled" ] || break  # else a signal ended `wait`, not the server: wait for the server itself
done
wait "$filter" || true  # its last lines written
if [ -e "$flags/in-use" ]; then
  echo "mlflow-server.sh: port $port on $host is in use (another server?); set MLFLOW_PORT to a free one" >&2
  exit 1
fi
exit "$status"
