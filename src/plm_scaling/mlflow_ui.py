"""`make mlflow-ui`: the MLflow UI on the workflow's sqlite store, and, once it answers, the URL of each
experiment's runs table: where to start, since MLflow 3's home page is its GenAI view ("Traces 0 / No data").

    python -m plm_scaling.mlflow_ui sqlite:///results/mlflow.db [PORT]
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request

from .tracking import sqlite_path


def experiment_urls(tracking_uri: str, ui: str) -> list[str]:
    """Per active experiment of a sqlite store: its name, run count and the URL of its runs table. Read through
    sqlite, read-only: opening a missing store through MLflow would create it."""
    db = sqlite_path(tracking_uri)
    if db is None or not db.is_file():
        return [f"no MLflow store at {db or tracking_uri} yet (`make reproduce` makes it)"]
    query = (
        "select e.experiment_id, e.name, (select count(*) from runs r where r.experiment_id = e.experiment_id"
        " and r.lifecycle_stage = 'active') from experiments e where e.lifecycle_stage = 'active'"
        " order by e.experiment_id"
    )
    with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as con:
        found = con.execute(query).fetchall()
    width = max((len(name) for _, name, _ in found), default=0)
    return [f"{name:<{width}}  {runs:>5} runs  {ui}/#/experiments/{eid}/runs" for eid, name, runs in found]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def serve(tracking_uri: str, port: int = 5000) -> int:
    """`mlflow ui` on 127.0.0.1:PORT (one worker: one user), the URLs printed when it answers; its exit status."""
    ui = f"http://127.0.0.1:{port}"
    args = ["ui", "--backend-store-uri", tracking_uri, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with subprocess.Popen([sys.executable, "-m", "mlflow", *args]) as server:
        try:
            while server.poll() is None and not _answers(ui):
                time.sleep(0.5)
            if server.poll() is None:
                lines = experiment_urls(tracking_uri, ui)
                print(f"\nMLflow UI at {ui}; each experiment's runs table:", *(f"  {x}" for x in lines), sep="\n")
                print("(Ctrl-C stops it)", flush=True)
            return server.wait()
        except KeyboardInterrupt:  # Ctrl-C: the server stops too (a terminal's reached it already, a kill's not)
            server.send_signal(signal.SIGINT)
            try:
                return server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                return server.wait()


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5000))
