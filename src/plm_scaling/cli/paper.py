"""`plm-scaling` commands: The paper stage: released curves as MLflow runs, the fits as a run, figures and Table 2 with provenance."""

from __future__ import annotations

import argparse

from .common import bootstrap_args, load_table


def _paper_fits(a: argparse.Namespace) -> None:
    from ..io import atomic_outputs, write_json

    if a.released:  # the fit as an MLflow run naming the released runs, provenance recorded in its output
        from ..study.paper import fit_paper

        fits = fit_paper(a.table, a.released, a.out, bootstrap=a.bootstrap, seed=a.seed)
    else:
        from ..analysis.fits import fit_all

        fits = fit_all(load_table(a.table), bootstrap=a.bootstrap, seed=a.seed)
        with atomic_outputs(a.out) as (tmp,):
            write_json(tmp, fits)
    for w in fits["warnings"]:
        print(f"warning: {w}")


def _paper_track(a: argparse.Namespace) -> None:
    from ..study.paper import track_released

    r = track_released(a.logs, a.table, a.tracking_uri, a.experiment, a.out)
    print(f"{len(r['runs'])} released curves in experiment {r['experiment']}: {r['new_runs']} logged now, "
          f"{len(r['runs']) - r['new_runs']} unchanged")  # fmt: skip


def _paper_figure(a: argparse.Namespace) -> None:
    from ..io import read_json

    fits = read_json(a.fits)
    if "provenance" in fits:  # fitted as an MLflow run: the figure is a run too, with its provenance
        from ..study.paper import paper_output

        paper_output(a.name, a.table, a.fits, a.out)
    elif a.name == "table2":
        from ..plotting.table2 import table2

        table2(fits, a.out)
    else:
        from ..plotting import figures

        figures.draw_paper_figure(a.name, lambda: load_table(a.table), fits, a.out)


def register(sub) -> None:
    """Add this group's sub-commands to the top-level sub-parsers."""
    pf = sub.add_parser("paper-fits", help="all fits (notebook, interp, parametric, transfer) of a tidy table")
    pf.add_argument("table")
    pf.add_argument("out")
    pf.add_argument("--released", help="paper-track's output: fit as an MLflow run that names the released runs")
    bootstrap_args(pf, 1000)
    pf.set_defaults(func=_paper_fits)

    pt = sub.add_parser("paper-track", help="log every released curve as an MLflow run (unchanged ones once)")
    pt.add_argument("logs", help="the released logs folder")
    pt.add_argument("table", help="its tidy table (ingest-logs output)")
    pt.add_argument("out", help="JSON listing the runs with source and sha256")
    pt.add_argument("--tracking-uri", required=True)
    pt.add_argument("--experiment", required=True)
    pt.set_defaults(func=_paper_track)

    fg = sub.add_parser("paper-figure", help="draw one figure (PNG + SVG) or Table 2 (CSV + Markdown)")
    fg.add_argument("name", choices=("repeated_data", "isoflop", "table2", "transfer", "mlm_from_clm", "mask_ratio",
                                     "isoloss"))  # fmt: skip
    fg.add_argument("table")
    fg.add_argument("fits")
    fg.add_argument("out")
    fg.set_defaults(func=_paper_figure)
