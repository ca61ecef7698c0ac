"""Every malformed FASTA file through `data clean`: non-zero exit, a one-line message naming the problem, file and
line; no outputs. Inputs that are odd but valid (a byte-order mark, gzip padding, CRLF) are normalised."""

import gzip
import re

import pytest

from ...conftest import run_cli

VALID = ">a\nMKV\n>b\nLLA\n"

CASES = {
    "empty": (b"", r"no FASTA records"),
    "text_before_header": (b"MKV\n>a\nMKV\n", r"line 1: text before the first '>' header"),
    "no_residues": (b">a\nMKV\n>b\n>c\nAA\n", r"line 3: record 2 \(b\) has no residues"),
    "no_residues_last": (b">a\nMKV\n>b\n\n", r"line 3: record 2 \(b\) has no residues"),
    "digit": (b">a\nMKV\n>b\nAC1D\n", r"line 4, column 3: character '1' in record 2 \(b\) is not a protein residue"),
    "at_sign": (b">a\nMK@V\n", r"line 2, column 3: character '@'"),
    "duplicate_id": (b">a x\nMKV\n>b\nAA\n>a y\nLL\n", r"line 5: duplicate identifier 'a' \(first seen at line 1\)"),
    "empty_identifier": (b">\nMKV\n", r"line 1: record 1 \(\) has an empty identifier"),
    "truncated_gzip": (gzip.compress(VALID.encode() * 2000)[:-40], r"truncated or corrupt gzip stream"),
    "cr_only_line_ends": (VALID.replace("\n", "\r").encode(), r"line ends are CR alone \(classic Mac OS\)"),
    "gzip_garbage_after_padding": (gzip.compress(VALID.encode()) + bytes(5000) + b"junk", r"corrupt gzip stream"),
    "star_inside": (b">a\nMK*V\n", r"line 2, column 3: character '\*'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_input_is_rejected_cleanly(case, tmp_path):
    content, message = CASES[case]
    src = tmp_path / f"bad {case}.fa"  # a space in the name, as users' files have
    src.write_bytes(content)
    out = tmp_path / "out"
    proc = run_cli("data", "clean", src, out)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("plm-scaling: error: ")
    assert str(src) in lines[0]
    assert re.search(message, lines[0]), lines[0]
    assert not out.exists()


def test_length_filter_that_keeps_nothing_is_an_error(tmp_path):
    src = tmp_path / "in.fa"
    src.write_text(VALID)
    proc = run_cli("data", "clean", src, tmp_path / "out", "--min-length", "10")
    assert proc.returncode == 2 and "no sequence has a length within [10, 65535]" in proc.stderr
    assert not (tmp_path / "out").exists()  # the folder it created is removed with its partial outputs


def test_missing_file_is_one_line(tmp_path):
    proc = run_cli("data", "clean", tmp_path / "nope.fa", tmp_path / "out")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "nope.fa" in proc.stderr


@pytest.mark.parametrize("variant", ["utf8_bom", "gzip_zero_padding", "crlf"])
def test_normalised_inputs_give_the_same_shards(variant, tmp_path):
    """A byte-order mark, zero bytes padding a gzip stream (gzip(1) accepts both) and CRLF line ends are normalised."""
    plain = tmp_path / "plain.fa"
    plain.write_text(VALID)
    content = {
        "utf8_bom": b"\xef\xbb\xbf" + VALID.encode(),
        "gzip_zero_padding": gzip.compress(VALID.encode()) + bytes(3000),
        "crlf": VALID.replace("\n", "\r\n").encode(),
    }[variant]
    odd = tmp_path / "odd.fa"
    odd.write_bytes(content)
    for src, out in ((plain, tmp_path / "a"), (odd, tmp_path / "b")):
        proc = run_cli("data", "clean", src, out)
        assert proc.returncode == 0, proc.stderr
    for name in ("all.tokens.u8", "all.offsets.npy", "all.ids.txt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
