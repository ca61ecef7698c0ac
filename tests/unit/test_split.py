"""Cluster assignment of the split: seeded, whole clusters, the configured shares; the leakage search's limit on
rejected alignments, with real MMseqs2 (the split itself, on the embedded data:
tests/workflow/test_split_and_manifest.py)."""

import numpy as np

from plm_scaling.data import mmseqs
from plm_scaling.data.split import assign_clusters

RESIDUES = "ACDEFGHIKLMNPQRSTVWY"


def test_cluster_assignment_is_seeded_and_whole():
    rep = np.repeat(np.arange(1000), 3)
    a, b = assign_clusters(rep, 0.1, 0.1, seed=1), assign_clusters(rep, 0.1, 0.1, seed=1)
    np.testing.assert_array_equal(a, b)
    assert (a.reshape(-1, 3) == a.reshape(-1, 3)[:, :1]).all()  # every cluster lies in one split
    assert not np.array_equal(a, assign_clusters(rep, 0.1, 0.1, seed=2))
    share = np.bincount(a[::3], minlength=3) / 1000
    assert abs(share[1] - 0.1) < 0.03 and abs(share[2] - 0.1) < 0.03


def test_the_leakage_search_stops_aligning_a_query_after_max_rejected_failures(tmp_path):
    """metastudent's split spends its time aligning up to 1,000 prefilter candidates per held-out sequence, nearly
    all rejected; --max-rejected stops that. One query against 10 partial copies of it (its first 150 residues, then
    random), an 80-residue-different homolog and 5 unrelated proteins: the unlimited search finds hits, one rejected
    alignment ends the query's search before them."""
    rng = np.random.default_rng(3)
    protein = lambda n: "".join(rng.choice(list(RESIDUES), n))  # noqa: E731
    query = protein(200)
    homolog = list(query)
    for i in rng.choice(200, 80, replace=False):
        homolog[i] = RESIDUES[(RESIDUES.index(homolog[i]) + 1 + int(rng.integers(19))) % 20]
    targets = [query[:150] + protein(50) for _ in range(10)] + ["".join(homolog)] + [protein(200) for _ in range(5)]
    (tmp_path / "q.fasta").write_text(f">0\n{query}\n")
    (tmp_path / "t.fasta").write_text("".join(f">{i}\n{t}\n" for i, t in enumerate(targets)))
    search = lambda limit: mmseqs.search_hits(tmp_path / "q.fasta", tmp_path / "t.fasta", 0.5, 0.8, 0, 1, 5.7, limit)  # noqa: E731
    every = {int(t) for _, t in search(mmseqs.MAX_REJECTED)}
    assert len(every) >= 2 and every <= set(range(11))  # partial copies and the homolog, no unrelated protein
    assert {int(t) for _, t in search(1)} < every


def test_the_split_hands_max_rejected_to_its_leakage_search_and_names_it_in_the_manifest(
    tmp_path, write_fasta, monkeypatch
):
    """Config key split.max_rejected reaches every leakage-search round; a manifest names it only when set, so the
    manifests of datasets split before the key existed stay as they were."""
    from plm_scaling.data.clean import clean
    from plm_scaling.data.split import make_splits

    rng = np.random.default_rng(5)
    text = "".join(f">p{i}\n{''.join(rng.choice(list(RESIDUES), 80))}\n" for i in range(40))
    clean(write_fasta(text), tmp_path / "clean", 1, 65535)
    seen, search = [], mmseqs.search_hits
    monkeypatch.setattr(mmseqs, "search_hits", lambda *a, **k: seen.append(k["max_rejected"]) or search(*a, **k))

    def split(out, **limit):
        return make_splits(tmp_path / "clean", out, 0.5, 0.8, 0, "cluster", 5.7, 0.2, 0.2, 0, 1, **limit)

    assert split(tmp_path / "limited", max_rejected=7)["parameters"]["search_max_rejected"] == 7
    assert seen and set(seen) == {7}
    assert "search_max_rejected" not in split(tmp_path / "default")["parameters"]
    assert seen[-1] == mmseqs.MAX_REJECTED
