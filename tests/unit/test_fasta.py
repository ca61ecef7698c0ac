"""Parser and normaliser of the streaming FASTA reader."""

import gzip

import numpy as np
import pytest

from plm_scaling.data import vocab
from plm_scaling.data.fasta import FastaError, read_fasta

from ..conftest import EMBEDDED_FASTA


def records(path, **kw):
    out = []
    for b in read_fasta(path, **kw):
        for k, ident in enumerate(b.ids):
            out.append((ident, vocab.decode(b.tokens[b.offsets[k] : b.offsets[k + 1]])))
    return out


def test_normalisation_case_crlf_whitespace_and_terminal_stop(write_fasta):
    text = ">sp|P1 first protein\r\nmkv LL\r\n  aa\t*\r\n\r\n>P2\nACDE\nFG*\n>P3 desc\nW\n"
    assert records(write_fasta(text)) == [("sp|P1", "MKVLLAA"), ("P2", "ACDEFG"), ("P3", "W")]


def test_gzip_detected_by_content_not_name(write_fasta):
    path = write_fasta(">a\nMK\n>b\nLL\n", name="no_suffix", gz=True)
    assert records(path) == [("a", "MK"), ("b", "LL")]


def test_concatenated_gzip_members_are_read_like_gzip(write_fasta, tmp_path):
    path = tmp_path / "two.fa.gz"
    path.write_bytes(gzip.compress(b">a\nMK\n") + gzip.compress(b">b\nLL\n"))
    assert [r[0] for r in records(path)] == ["a", "b"]


def test_small_blocks_give_identical_records(write_fasta):
    rng = np.random.default_rng(0)
    text = "".join(
        f">r{i}\n"
        + "\n".join("".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 30)) for _ in range(rng.integers(1, 5)))
        + "\n"
        for i in range(200)
    )
    path = write_fasta(text)
    expected = records(path, block_bytes=1 << 20)
    assert len(expected) == 200
    assert records(path, block_bytes=64) == expected


def test_ambiguous_residues_are_kept(write_fasta):
    assert records(write_fasta(">x\nAXBZUO\n"))[0][1] == "AXBZUO"


def test_embedded_dataset_counts():
    batches = list(read_fasta(EMBEDDED_FASTA))
    assert sum(len(b) for b in batches) == 20000
    assert sum(b.tokens.size for b in batches) == 9055569  # residues, as `zcat | grep -v '>' | tr -d '\n' | wc -c`


def test_star_inside_a_sequence_is_an_error(write_fasta):
    with pytest.raises(FastaError, match=r"line 3, column 2: character '\*' in record 1 \(a\)"):
        records(write_fasta(">a\nMK\nA*K\n"))
