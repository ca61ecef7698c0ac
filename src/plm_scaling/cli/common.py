"""Helpers shared by the command groups."""

from __future__ import annotations

import argparse
import json


def load_table(path: str):
    """A tidy loss table from a CSV written by `ingest-logs`, or ingested now from a folder of logs."""
    from pathlib import Path

    from ..analysis.logs import Table, ingest

    return Table.read_csv(path) if Path(path).is_file() else ingest(path)


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))


def count(text: str) -> int:
    """A whole number >= 0 (an argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def bootstrap_args(parser: argparse.ArgumentParser, resamples: int) -> None:
    parser.add_argument("--bootstrap", type=count, default=resamples, help="bootstrap resamples (seeded) for 95%% CIs")
    parser.add_argument("--seed", type=count, default=0)
