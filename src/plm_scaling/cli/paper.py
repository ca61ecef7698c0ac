"""`plm-scaling paper ...`: the authors' released logs as a tidy table and MLflow runs, the paper's fits, its
figures and Table 2 with provenance."""

from __future__ import annotations

import argparse

from ..names import PAPER_FIGURES, PAPER_TABLE
from .common import bootstrap_args, command, group, tracking_args


def _ingest(a: argparse.Namespace) -> None:
    from ..analysis.logs import ingest
    from ..io import atomic_outputs

    table = ingest(a.logs_dir)
    with atomic_outputs(a.out) as (tmp,):
        table.write_csv(tmp)
    print(f"{len(table):,} rows from {len(table.unique_sources())} files")


def _track(a: argparse.Namespace) -> None:
    from ..study.paper_stage import track_released

    r = track_released(a.logs, a.table, a.tracking_uri, a.experiment, a.out)
    total, new = len(r["runs"]), r["new_runs"]
    print(f"{total} released curves in experiment {r['experiment']}: {new} logged now, {total - new} unchanged")


def _fits(a: argparse.Namespace) -> None:
    if a.released:  # the fit as an MLflow run naming the released runs, provenance recorded in its output
        from ..study.paper_stage import fit_paper

        fits = fit_paper(a.table, a.released, a.out, bootstrap=a.bootstrap, seed=a.seed)
    else:
        from ..analysis.fits import fit_all
        from ..analysis.logs import read_table
        from ..io import atomic_outputs, write_json
        from ..study.fits_schema import check_fits

        fits = check_fits(fit_all(read_table(a.table), bootstrap=a.bootstrap, seed=a.seed), a.out, "paper")
        with atomic_outputs(a.out) as (tmp,):
            write_json(tmp, fits)
    for w in fits["warnings"]:
        print(f"warning: {w}")


def _figure(a: argparse.Namespace) -> None:
    from ..study.paper_stage import draw

    draw(a.name, a.table, a.fits, a.out)


def register(sub) -> None:
    """`paper` and its steps."""
    steps = group(sub, "paper", "the authors' released logs: tidy table, MLflow runs, fits, figures, Table 2")

    ing = command(steps, "ingest", "read a folder of loss-curve CSVs into one tidy table (CSV)")
    ing.add_argument("logs_dir", help="the released logs folder (or any folder of TensorBoard CSV exports)")
    ing.add_argument("out", help="tidy table CSV to write")
    ing.set_defaults(func=_ingest)

    tr = command(steps, "track", "log every released curve as an MLflow run (unchanged ones once)")
    tr.add_argument("logs", help="the released logs folder")
    tr.add_argument("table", help="its tidy table (`paper ingest` output)")
    tr.add_argument("out", help="JSON listing the runs with source and sha256")
    tracking_args(tr, "MLflow experiment of the released curves")
    tr.set_defaults(func=_track)

    fi = command(steps, "fits", "all fits (notebook, isoflop, parametric, transfer) of a tidy table")
    fi.add_argument("table", help="tidy table CSV or a folder of released logs")
    fi.add_argument("out", help="fits JSON to write")
    fi.add_argument("--released", help="`paper track` output: fit as an MLflow run that names the released runs")
    bootstrap_args(fi, 1000)
    fi.set_defaults(func=_fits)

    fg = command(steps, "figure", "draw one figure (PNG + SVG) or Table 2 (CSV + Markdown)")
    fg.add_argument("name", choices=(*PAPER_FIGURES, PAPER_TABLE), help="which figure")
    fg.add_argument("table", help="tidy table CSV or a folder of released logs")
    fg.add_argument("fits", help="`paper fits` output")
    fg.add_argument("out", help="PNG (or CSV for table2) to write; the SVG (Markdown) lands beside it")
    fg.set_defaults(func=_figure)
