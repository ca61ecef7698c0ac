"""`plm-scaling` commands: The data stage: clean, split, stats."""

from __future__ import annotations

import argparse


def _data_clean(a: argparse.Namespace) -> None:
    from ..data.clean import clean

    info = clean(a.fasta, a.out_dir, a.min_length, a.max_length)
    print(f"kept {info['records_kept']:,} of {info['records_read']:,} records ({info['residues_kept']:,} residues)")


def _data_split(a: argparse.Namespace) -> None:
    from ..data.split import make_splits

    m = make_splits(a.clean_dir, a.out_dir, a.identity, a.coverage, a.cov_mode, a.cluster_mode, a.sensitivity,
                    a.valid, a.test, a.seed, a.threads, a.dataset)  # fmt: skip
    for name, s in m["splits"].items():
        print(f"{name}: {s['sequences']:,} sequences, {s['tokens']:,} tokens, {s['clusters']:,} clusters")


def _data_stats(a: argparse.Namespace) -> None:
    from ..data.stats import plot_stats

    plot_stats(a.split_dir, a.out)


def register(sub) -> None:
    """Add this group's sub-commands to the top-level sub-parsers."""
    data = sub.add_parser("data", help="data stage").add_subparsers(dest="step", required=True)

    c = data.add_parser("clean", help="validate, normalise and length-filter a FASTA into token shards")
    c.add_argument("fasta")
    c.add_argument("out_dir")
    c.add_argument("--min-length", type=int, default=1)
    c.add_argument("--max-length", type=int, default=65535)
    c.set_defaults(func=_data_clean)

    s = data.add_parser("split", help="cluster with MMseqs2 and write leakage-free train/valid/test shards")
    s.add_argument("clean_dir")
    s.add_argument("out_dir")
    s.add_argument("--dataset", default="")
    s.add_argument("--identity", type=float, default=0.5)
    s.add_argument("--coverage", type=float, default=0.8)
    s.add_argument("--cov-mode", type=int, default=0, choices=(0, 1, 2))
    s.add_argument("--cluster-mode", default="cluster", choices=("cluster", "linclust"))
    s.add_argument("--sensitivity", type=float, default=5.7)
    s.add_argument("--valid", type=float, default=0.05)
    s.add_argument("--test", type=float, default=0.05)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--threads", type=int, default=1)
    s.set_defaults(func=_data_split)

    st = data.add_parser("stats", help="length and composition figure of a split dataset")
    st.add_argument("split_dir")
    st.add_argument("out")
    st.set_defaults(func=_data_stats)
