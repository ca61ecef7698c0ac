"""`plm-scaling` command line. Every failure ends in one line on stderr (`plm-scaling: error: ...`) and exit 2.

One module per command group (data, analysis, paper, runs), each registering its sub-commands.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from . import analysis, data, paper, runs


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line on stderr, exit 2, as every other failure."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="plm-scaling", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    for group in (data, analysis, paper, runs):
        group.register(sub)
    return p


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"plm-scaling: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = _one_line_warning
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
    except (ValueError, RuntimeError, OSError) as err:
        message = " ".join(str(err).split())  # one line, whatever the cause
        print(f"plm-scaling: error: {message}", file=sys.stderr)
        return 2
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
