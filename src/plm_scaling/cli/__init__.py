"""plm-scaling: compute-optimal protein language model studies (Cheng et al., NeurIPS 2024) from the command line.

One scheme: `plm-scaling GROUP [STEP] ...`, one module per group, each registering its sub-commands:
  data clean|split|dedup|filter|subset|aux|stats the data stage
  train, evaluate                                one sweep point (Hydra overrides), its full-split losses
  study init|fit|plan-check|check|figure         a study's steps, as the workflow runs them
  paper ingest|track|fits|figure                 the authors' released logs
  fit logs|parametric                            scaling laws of released logs or any table of runs
  plan                                           compute-optimal N, D and loss for a budget
  audit                                          a figure's lineage, checked
  export                                         a finished run's model for Hugging Face transformers
"""

from __future__ import annotations

import argparse
import sys
import warnings
from importlib.metadata import PackageNotFoundError, version

from . import analysis, audit, data, export, paper, study, train
from .common import Formatter

EXIT_CODES = """exit codes:
  0  done (audit: the figure, its runs, code, config and data agree)
  1  audit only: the figure or something it was made from changed since (each difference is printed)
  2  bad input or a failed step: one line on stderr, `plm-scaling: error: ...`, naming the file or config key"""


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line on stderr, exit 2, as every other failure."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _version() -> str:
    try:
        return version("plm-scaling")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="plm-scaling", description=__doc__, epilog=EXIT_CODES, formatter_class=Formatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (data, train, audit, study, paper, analysis, export):
        group.register(sub)
    return p


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"plm-scaling: warning: {message}\n"


def _failures() -> tuple[type[BaseException], ...]:
    """What a command reports in one line: bad input and a failing environment (ValueError, RuntimeError, OSError),
    and MLflow's own errors (a store or tracking server that refuses or is gone) once MLflow is loaded; evaluated
    when an exception arrives, so that no command pays MLflow's import for it."""
    mlflow_errors = sys.modules.get("mlflow.exceptions")
    return (ValueError, RuntimeError, OSError) + ((mlflow_errors.MlflowException,) if mlflow_errors else ())


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = _one_line_warning
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
    except _failures() as err:
        message = " ".join(str(err).split())  # one line, whatever the cause
        print(f"plm-scaling: error: {message}", file=sys.stderr)
        return 2
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
