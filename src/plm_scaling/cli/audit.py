"""`plm-scaling audit`: the lineage of figures, from the pixel back to the FASTA, and their numbers re-derived."""

from __future__ import annotations

import argparse

from .common import command


def _audit(a: argparse.Namespace) -> int:
    import time

    from ..provenance.audit import audit

    failed = 0
    for figure in a.figure:  # one process: the figures of one fit share its re-derivation
        start = time.perf_counter()
        lines, problems = audit(figure, recompute=a.recompute)
        print("\n".join(lines))
        for p in problems:
            print(f"FAIL: {p}")
        how = "re-derived from its runs" if a.recompute else "hash chain only (--no-recompute)"
        seconds = f"{time.perf_counter() - start:.1f} s"
        print(
            f"OK: figure, runs, code, config and data agree; {how} ({seconds})"
            if not problems
            else f"{len(problems)} problem(s) ({seconds})"
        )
        failed += bool(problems)
    return 1 if failed else 0


def register(sub) -> None:
    """`audit`."""
    au = command(
        sub,
        "audit",
        "lineage of figures; exit 1 when a link from FASTA to pixel, a run, the code or a recomputed number differs",
    )
    au.add_argument("figure", nargs="+", help="figures made by the workflow (a .provenance.json sidecar beside each)")
    au.add_argument(
        "--no-recompute",
        dest="recompute",
        action="store_false",
        help="check the hash chain only; by default the fit is also recomputed from the runs and the figure redrawn",
    )
    au.set_defaults(func=_audit)
