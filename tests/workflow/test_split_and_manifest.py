"""The data stage on the embedded 20,000 UniProt sequences: manifest contents, shards, and no split leakage."""

import subprocess

import numpy as np
import pytest

from plm_scaling.data import vocab
from plm_scaling.data.fasta import read_fasta
from plm_scaling.data.shards import Shard
from plm_scaling.data.split import SPLITS
from plm_scaling.io import sha256_file

from ..conftest import EMBEDDED_FASTA


@pytest.mark.slow
def test_manifest_counts_add_up(embedded_split):
    root, m = embedded_split
    s = m["splits"]
    assert (
        sum(v["sequences"] for v in s.values()) == m["clean"]["records_kept"] == 20000 - m["clean"]["dropped_too_short"]
    )
    assert sum(v["tokens"] for v in s.values()) == m["clean"]["residues_kept"]
    assert sum(v["clusters"] for v in s.values()) == m["clusters_total"]
    assert m["clusters_total"] < m["clean"]["records_kept"]  # 50% identity merges related UniProt entries
    for name in SPLITS:
        shard = Shard.open(root / "split" / name)
        assert len(shard) == s[name]["sequences"] and int(shard.offsets[-1]) == s[name]["tokens"]
    # Both held-out splits are non-trivial and near their 5% targets (by clusters).
    for name in ("valid", "test"):
        assert 0.03 < s[name]["clusters"] / m["clusters_total"] < 0.07


@pytest.mark.slow
def test_manifest_records_input_parameters_vocabulary_and_tools(embedded_split):
    _, m = embedded_split
    assert m["input_sha256"] == sha256_file(EMBEDDED_FASTA)
    assert m["vocabulary"] == list(vocab.TOKENS)
    assert m["parameters"] == {
        "identity": 0.5,
        "coverage": 0.8,
        "cov_mode": 0,
        "cluster_mode": "cluster",
        "search_sensitivity": 5.7,
        "valid_fraction": 0.05,
        "test_fraction": 0.05,
        "seed": 0,
    }
    assert m["tools"]["mmseqs2"] and m["tools"]["numpy"] == np.__version__


@pytest.mark.slow
def test_shards_hold_the_original_sequences(embedded_split):
    root, _ = embedded_split
    original = {}
    for b in read_fasta(EMBEDDED_FASTA):
        for k, ident in enumerate(b.ids[:50]):
            original[ident] = b.tokens[b.offsets[k] : b.offsets[k + 1]].copy()
    found = 0
    for name in SPLITS:
        shard = Shard.open(root / "split" / name)
        ids = (root / "split" / f"{name}.ids.txt").read_text(encoding="latin-1").splitlines()
        assert len(ids) == len(shard)
        for i, ident in enumerate(ids):
            if ident in original:
                np.testing.assert_array_equal(shard[i], original[ident])
                found += 1
    assert found == len(original)


def _write_split_fasta(root, names, path):
    with open(path, "w") as fh:
        for name in names:
            shard = Shard.open(root / "split" / name)
            ids = (root / "split" / f"{name}.ids.txt").read_text(encoding="latin-1").splitlines()
            for i in range(len(shard)):
                fh.write(f">{ids[i]}\n{vocab.decode(shard[i])}\n")


@pytest.mark.slow
def test_no_heldout_sequence_has_a_train_partner_above_threshold(embedded_split, tmp_path):
    """An independent MMseqs2 search from the final shards: held-out (valid+test) against train."""
    root, m = embedded_split
    held, train = tmp_path / "held.fa", tmp_path / "train.fa"
    _write_split_fasta(root, ["valid", "test"], held)
    _write_split_fasta(root, ["train"], train)
    out = tmp_path / "hits.m8"
    subprocess.run(
        [
            "mmseqs",
            "easy-search",
            held,
            train,
            out,
            tmp_path / "tmp",
            "--min-seq-id",
            "0.5",
            "-c",
            "0.8",
            "--cov-mode",
            "0",
            "-e",
            "inf",
            "--max-seqs",
            "1000",
            "--threads",
            "2",
            "-v",
            "1",
            "--format-output",
            "query,target,fident,qcov,tcov",
        ],
        check=True,
        timeout=900,
    )
    leaks = [
        row
        for row in (line.split("\t") for line in out.read_text().splitlines())
        if float(row[2]) >= 0.5 and float(row[3]) >= 0.8 and float(row[4]) >= 0.8
    ]
    assert leaks == []
    # ...and the repair had work to do: greedy clustering alone leaves cross-cluster neighbours.
    assert m["leakage_repair"]["sequences_moved_to_train"] > 0


@pytest.mark.slow
def test_framed_stream_windows_equal_the_materialised_stream(embedded_split):
    """Training windows are cut from the memory-mapped shard on demand; every cut must equal the same slice of the
    whole stream built the plain way (<cls> seq <eos> for each record, back to back), windows across records,
    at the ends and empty ones included."""
    from plm_scaling.training.data import FramedStream

    root, _ = embedded_split
    shard = Shard.open(root / "split" / "valid")
    whole = np.concatenate([np.concatenate(([vocab.CLS], shard[i], [vocab.EOS])) for i in range(len(shard))])
    stream = FramedStream(shard)
    assert stream.size == whole.size
    rng = np.random.default_rng(0)
    starts = [0, whole.size - 1, whole.size, *rng.integers(0, whole.size, 500).tolist()]
    for a in starts:
        for span in (0, 1, 33, int(rng.integers(1, 5000))):
            assert np.array_equal(stream[a : a + span], whole[a : a + span].astype(np.uint8)), (a, span)
