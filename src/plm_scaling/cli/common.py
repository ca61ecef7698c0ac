"""Helpers shared by the command groups."""

from __future__ import annotations

import argparse
import json


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default (when it has one); descriptions and epilogs keep their line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return action.help or ""
        return super()._get_help_string(action)


def command(sub, name: str, help: str, **kwargs) -> argparse.ArgumentParser:
    """A sub-command whose --help shows its one-line help as description, and every default."""
    kwargs.setdefault("description", help)
    return sub.add_parser(name, help=help, formatter_class=Formatter, **kwargs)


def group(sub, name: str, help: str):
    """A command group (`plm-scaling NAME STEP ...`): its sub-parsers."""
    return command(sub, name, help).add_subparsers(dest="step", required=True, metavar="STEP")


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
    parser.add_argument("--seed", type=count, default=0, help="seed of the bootstrap")


def tracking_args(parser: argparse.ArgumentParser, experiment: str) -> None:
    """--tracking-uri and --experiment, both required: where a step's MLflow run goes."""
    parser.add_argument("--tracking-uri", required=True, help="MLflow tracking URI")
    parser.add_argument("--experiment", required=True, help=experiment)
