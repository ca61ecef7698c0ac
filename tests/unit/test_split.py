"""Cluster assignment of the split: seeded, whole clusters, the configured shares; the leakage search's limit on
rejected alignments, with real MMseqs2 (the split itself, on the embedded data:
tests/workflow/test_split_and_manifest.py)."""

import numpy as np

from plm_scaling.data import mmseqs
from plm_scaling.data.split import assign_clusters

from .proteins import mutate, random_protein


def test_cluster_assignment_is_seeded_and_whole():
    rep = np.repeat(np.arange(1000), 3)
    a, b = assign_clusters(rep, 0.1, 0.1, seed=1), assign_clusters(rep, 0.1, 0.1, seed=1)
    np.testing.assert_array_equal(a, b)
    assert (a.reshape(-1, 3) == a.reshape(-1, 3)[:, :1]).all()  # every cluster lies in one split
    assert not np.array_equal(a, assign_clusters(rep, 0.1, 0.1, seed=2))
    share = np.bincount(a[::3], minlength=3) / 1000
    assert abs(share[1] - 0.1) < 0.03 and abs(share[2] - 0.1) < 0.03


def test_the_leakage_search_stops_aligning_a_query_at_its_limits(tmp_path):
    """metastudent's split spends its time aligning up to 1,000 prefilter candidates per held-out sequence
    (--max-rejected, --max-accept stop that early). One query against 10 partial copies of it (its first 150
    residues, then random), an 80-residue-different homolog and 5 unrelated proteins: the unlimited search finds
    several hits; one rejected alignment ends the query's search before some, one accepted alignment after it."""
    rng = np.random.default_rng(3)
    query = random_protein(rng, 200)
    homolog = mutate(rng, query, 80)
    partial = [query[:150] + random_protein(rng, 50) for _ in range(10)]
    targets = partial + [homolog] + [random_protein(rng, 200) for _ in range(5)]
    (tmp_path / "q.fasta").write_text(f">0\n{query}\n")
    (tmp_path / "t.fasta").write_text("".join(f">{i}\n{t}\n" for i, t in enumerate(targets)))

    def search(**limits) -> set[int]:
        hits = mmseqs.search_hits(tmp_path / "q.fasta", tmp_path / "t.fasta", 0.5, 0.8, 0, 1, 5.7, **limits)
        return {int(t) for _, t in hits}

    every = search()
    assert len(every) >= 2 and every <= set(range(11))  # partial copies and the homolog, no unrelated protein
    assert search(max_rejected=1) < every
    first = search(max_accept=1)
    assert len(first) == 1 and first <= every


def test_the_split_hands_its_search_limits_to_the_leakage_search_and_names_them_in_the_manifest(
    tmp_path, write_fasta, monkeypatch
):
    """Config keys split.max_rejected and max_accept reach every leakage-search round and the manifest names them
    (a manifest without them, as before the keys existed: tests/workflow/test_split_and_manifest.py)."""
    from plm_scaling.data.clean import clean
    from plm_scaling.data.split import make_splits

    rng = np.random.default_rng(5)
    text = "".join(f">p{i}\n{random_protein(rng, 80)}\n" for i in range(40))
    clean(write_fasta(text), tmp_path / "clean", 1, 65535)
    seen, search = [], mmseqs.search_hits
    spy = lambda *a, **k: seen.append((k["max_rejected"], k["max_accept"])) or search(*a, **k)  # noqa: E731
    monkeypatch.setattr(mmseqs, "search_hits", spy)
    limits = {"max_rejected": 7, "max_accept": 1}
    limited = make_splits(tmp_path / "clean", tmp_path / "split", 0.5, 0.8, 0, "cluster", 5.7, 0.2, 0.2, 0, 1, **limits)
    limited = limited["parameters"]
    assert (limited["search_max_rejected"], limited["search_max_accept"]) == (7, 1) and set(seen) == {(7, 1)}
