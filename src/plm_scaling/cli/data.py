"""`plm-scaling data ...`: the data stage: blastdb, clean, split, stats; dedup, filter, subset, aux."""

from __future__ import annotations

import argparse
import sys

from ..data.aux_corpus import MAX_BYTES
from ..data.mmseqs import MAX_ACCEPT, MAX_REJECTED
from .common import command, count, group


def _positive(text: str) -> int:
    """A whole number >= 1 (an argparse type)."""
    value = count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def _seed(text: str) -> int:
    """A seed: a whole number in [0, 2^32) (an argparse type; the seeded hash takes it as an unsigned integer)."""
    value = count(text)
    if value >= 2**32:
        raise argparse.ArgumentTypeError(f"{value} is not below 2^32")
    return value


def _data_clean(a: argparse.Namespace) -> None:
    from ..data.clean import clean

    info = clean(a.fasta, a.out_dir, a.min_length, a.max_length, a.max_records)
    print(f"kept {info['records_kept']:,} of {info['records_read']:,} records ({info['residues_kept']:,} residues)")


def _data_blastdb(a: argparse.Namespace) -> None:
    from ..data.blastdb import union_fasta

    info = union_fasta(a.db, a.out)
    print(f"{info['records']:,} proteins ({info['residues']:,} residues) from {len(a.db)} BLAST databases")


def _data_split(a: argparse.Namespace) -> None:
    from ..data.split import make_splits

    m = make_splits(
        a.clean_dir,
        a.out_dir,
        a.identity,
        a.coverage,
        a.cov_mode,
        a.cluster_mode,
        a.sensitivity,
        a.valid,
        a.test,
        a.seed,
        a.threads,
        a.dataset,
        a.max_rejected,
        a.max_accept,
    )
    for name, s in m["splits"].items():
        print(f"{name}: {s['sequences']:,} sequences, {s['tokens']:,} tokens, {s['clusters']:,} clusters")


def _data_dedup(a: argparse.Namespace) -> None:
    from ..data.dedup import dedup

    d = dedup(a.split_dir, a.out_dir, a.identity, a.coverage, a.cov_mode, a.threads)
    print(
        f"{d['exact_removed']:,} exact and {d['near_removed']:,} near duplicates (identity {d['identity']}, "
        f"coverage {d['coverage']}) removed of {d['records_in']:,} records, within each split"
    )


def _data_filter(a: argparse.Namespace) -> None:
    from ..training.perplexity_filter import filter_split

    f = filter_split(a.split_dir, a.out_dir, a.reference, a.drop_top, a.drop_bottom, a.threads)
    print(
        f"kept {f['sequences_kept']:,} of {f['sequences_scored']:,} train sequences ({f['clusters_kept']:,} of "
        f"{f['clusters_scored']:,} clusters) with perplexity in "
        f"[{f['perplexity_low']:.4g}, {f['perplexity_high']:.4g}] under {f['reference_sweep_point']} "
        f"({f['residues_per_s']:,.0f} residues/s)"
    )


def _data_subset(a: argparse.Namespace) -> None:
    from ..data.subset import unique_subset

    s = unique_subset(a.split_dir, a.out_dir, a.tokens, a.seed, a.threads)
    print(
        f"kept {s['tokens']:,} train tokens ({s['sequences']:,} sequences, {s['clusters']:,} of "
        f"{s['clusters_total']:,} clusters) of {s['train_tokens_total']:,}, nested by seed {s['seed']}"
    )


def _data_aux(a: argparse.Namespace) -> None:
    from ..data.aux_corpus import build_corpus

    info = build_corpus(a.folder, a.out_dir, a.pattern, a.max_bytes)
    print(f"aux corpus: {info['files']:,} files, {info['bytes']:,} bytes from {info['folder']}")
    for why, n in info["skipped"].items():  # also in corpus.json
        print(f"aux corpus: skipped {n:,} files: {why}", file=sys.stderr)


def _data_stats(a: argparse.Namespace) -> None:
    from ..data.stats import plot_stats

    plot_stats(a.split_dir, a.out)


def _similarity(p, identity: float, what: str) -> None:
    """MMseqs2's similarity options, shared by the steps that cluster."""
    p.add_argument("--identity", type=float, default=identity, help=f"MMseqs2 --min-seq-id of {what}")
    p.add_argument("--coverage", type=float, default=0.8, help="MMseqs2 -c")
    p.add_argument("--cov-mode", type=int, default=0, choices=(0, 1, 2), help="MMseqs2 --cov-mode")


def register(sub) -> None:
    """Add this group's sub-commands to the top-level sub-parsers."""
    data = group(sub, "data", "the data stage: FASTA -> clean shard -> clustered split -> statistics")
    _register_split_steps(data)
    _register_variant_steps(data)


def _register_split_steps(data) -> None:
    b = command(data, "blastdb", "the union of BLAST protein databases as FASTA, one record per accession")
    b.add_argument("out", help="FASTA to write (and OUT.json, what came from where)")
    b.add_argument("db", nargs="+", help="BLAST database name (the path without .pin/.psq/.phr)")
    b.set_defaults(func=_data_blastdb)

    c = command(data, "clean", "validate, normalise and length-filter a FASTA into token shards")
    c.add_argument("fasta", help="FASTA file (plain or gzip)")
    c.add_argument("out_dir", help="folder of the clean shard")
    c.add_argument("--min-length", type=int, default=1, help="shorter records are dropped")
    c.add_argument("--max-length", type=int, default=65535, help="longer records are dropped")
    c.add_argument("--max-records", type=int, help="keep only the first this many records (a scarce subset)")
    c.set_defaults(func=_data_clean)

    s = command(data, "split", "cluster with MMseqs2 and write leakage-free train/valid/test shards")
    s.add_argument("clean_dir", help="`data clean` output folder")
    s.add_argument("out_dir", help="folder of the split shards and manifest")
    s.add_argument("--dataset", default="", help="dataset name recorded in the manifest")
    _similarity(s, 0.5, "a cluster")
    s.add_argument("--cluster-mode", default="cluster", choices=("cluster", "linclust"), help="MMseqs2 workflow")
    s.add_argument("--sensitivity", type=float, default=5.7, help="MMseqs2 -s of the leakage search")
    s.add_argument(
        "--max-rejected",
        type=int,
        default=MAX_REJECTED,
        help="MMseqs2 --max-rejected of the leakage search (its own default: every prefilter candidate aligned)",
    )
    s.add_argument(
        "--max-accept",
        type=int,
        default=MAX_ACCEPT,
        help="MMseqs2 --max-accept of the leakage search (one hit is enough to move a cluster to train)",
    )
    s.add_argument("--valid", type=float, default=0.05, help="share of clusters held out for validation")
    s.add_argument("--test", type=float, default=0.05, help="share of clusters held out for test")
    s.add_argument("--seed", type=_seed, default=0, help="seed of the cluster assignment")
    s.add_argument("--threads", type=int, default=1, help="MMseqs2 threads")
    s.set_defaults(func=_data_split)

    st = command(data, "stats", "length and composition figure of a split dataset")
    st.add_argument("split_dir", help="`data split` output folder")
    st.add_argument("out", help="PNG to write")
    st.set_defaults(func=_data_stats)


def _register_variant_steps(data) -> None:
    """The steps that make a variant of a split dataset (data scarcity, repeated data) or an auxiliary corpus."""
    d = command(data, "dedup", "remove exact and MMseqs2 near duplicates within each split of a split dataset")
    d.add_argument("split_dir", help="`data split` output folder")
    d.add_argument("out_dir", help="folder of the deduplicated split (train, valid, test keep their records' split)")
    _similarity(d, 0.9, "a near duplicate")
    d.add_argument("--threads", type=int, default=1, help="MMseqs2 threads")
    d.set_defaults(func=_data_dedup)

    f = command(data, "filter", "keep a perplexity band of the train split, scored by a finished CLM run")
    f.add_argument("split_dir", help="`data split` output folder")
    f.add_argument("out_dir", help="folder of the filtered split (valid and test unchanged), scores.csv/png")
    f.add_argument("--reference", required=True, help="run folder of a finished CLM run (its run.dir)")
    f.add_argument("--drop-top", type=float, default=0.2, help="share of the highest-perplexity sequences dropped")
    f.add_argument("--drop-bottom", type=float, default=0.0, help="share of the lowest-perplexity sequences dropped")
    f.add_argument("--threads", type=_positive, default=1, help="MMseqs2 threads (counting the kept clusters)")
    f.set_defaults(func=_data_filter)

    u = command(data, "subset", "cut the train part to a nested unique subset of whole clusters (repeated data)")
    u.add_argument("split_dir", help="`data split` (or dedup/filter) output folder")
    u.add_argument("out_dir", help="folder of the subset split (valid and test unchanged)")
    u.add_argument(
        "--tokens", type=int, required=True, help="unique train tokens U to keep (whole clusters: a few more)"
    )
    u.add_argument("--seed", type=_seed, default=0, help="order of the clusters; one seed gives nested subsets")
    u.add_argument("--threads", type=int, default=1, help="MMseqs2 threads")
    u.set_defaults(func=_data_subset)

    x = command(data, "aux", "build an auxiliary text corpus for code augmentation (default: Python's stdlib)")
    x.add_argument("out_dir", help="folder of corpus.u8 and corpus.json")
    x.add_argument("--folder", help="folder of text files (default, or empty: the running Python's standard library)")
    x.add_argument("--pattern", default="*.py", help="which files under the folder (a relative glob)")
    x.add_argument(
        "--max-bytes", type=_positive, default=MAX_BYTES, help="size limit of the corpus (files beyond it are skipped)"
    )
    x.set_defaults(func=_data_aux)
