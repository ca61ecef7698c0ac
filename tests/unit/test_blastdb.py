"""BLAST protein databases as a dataset (data/blastdb.py, `plm-scaling data blastdb`): real databases made with
Debian's makeblastdb, read back with blastdbcmd, as the data stage reads metastudent-data's three ontologies."""

from __future__ import annotations

import json
import subprocess

import pytest

from ..conftest import cli
from .bad_input import one_line_error

SEQ = {"P1": "MKTAYIAKQRQISFVKSHFSRQ", "P2": "MSEQNNTEMTFQIQRIYTKDIS", "P3": "MGLSDGEWQLVLNVWGKVEADI"}


def make_db(folder, name: str, records: list[tuple[str, str]]):
    """A BLAST protein database of `records` (header, sequence), headers as metastudent's: ACCESSION|GO:..."""
    fasta = folder / f"{name}.fasta"
    fasta.write_text("".join(f">{h}\n{s}\n" for h, s in records))
    subprocess.run(
        ["makeblastdb", "-in", str(fasta), "-dbtype", "prot", "-out", str(folder / name), "-blastdb_version", "4"],
        check=True,
        capture_output=True,
    )
    return folder / name


def test_the_union_keeps_one_record_per_accession(tmp_path, capsys):
    bpo = make_db(tmp_path, "bpo", [("P1|GO:0001,GO:0002", SEQ["P1"]), ("P2|GO:0003", SEQ["P2"])])
    mfo = make_db(tmp_path, "mfo", [("P2|GO:0999", SEQ["P2"]), ("P3|GO:0004", SEQ["P3"])])  # P2 in both
    out = tmp_path / "source" / "proteins.fasta"
    proc = cli(capsys, "data", "blastdb", out, bpo, mfo)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert [line for line in text.splitlines() if line.startswith(">")] == [
        ">P1|GO:0001,GO:0002",
        ">P2|GO:0003",
        ">P3|GO:0004",
    ]
    assert "".join(text.split("\n")[1::2]) == SEQ["P1"] + SEQ["P2"] + SEQ["P3"]  # each sequence whole, on one line
    summary = json.loads((tmp_path / "source" / "proteins.fasta.json").read_text())
    assert [d["new"] for d in summary["databases"]] == [2, 1] and summary["records"] == 3
    assert summary["residues"] == sum(map(len, SEQ.values()))


def test_an_accession_with_two_sequences_is_refused_and_nothing_written(tmp_path, capsys):
    a = make_db(tmp_path, "a", [("P1|GO:0001", SEQ["P1"])])
    b = make_db(tmp_path, "b", [("P1|GO:0002", SEQ["P3"])])
    out = tmp_path / "source" / "proteins.fasta"
    one_line_error(cli(capsys, "data", "blastdb", out, a, b), r"accession P1 has another sequence in an earlier")
    assert not (tmp_path / "source").exists()


def test_a_path_that_is_no_database_is_one_line(tmp_path, capsys):
    proc = cli(capsys, "data", "blastdb", tmp_path / "out.fasta", tmp_path / "nothing")
    one_line_error(proc, r"nothing: not a BLAST protein database \(no nothing\.pin")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("hostile", ["-entry", "x;touch pwned #"])
def test_a_database_name_is_never_an_option_or_a_shell_word(tmp_path, capsys, hostile, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for suffix in (".pin", ".psq", ".phr"):  # files of that name, which blastdbcmd cannot read as a database
        (tmp_path / f"{hostile}{suffix}").write_bytes(b"junk")
    proc = cli(capsys, "data", "blastdb", "out.fasta", f"./{hostile}")
    one_line_error(proc, r"blastdbcmd failed")
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out.fasta").exists()


@pytest.mark.parametrize("entry", [{"min_length": 5}, {"fasta": "a.fasta", "blastdb": ["db"]}])
def test_a_dataset_names_a_fasta_or_blast_databases_not_both(entry):
    from plm_scaling.config_schema import ConfigError, validate_config
    from plm_scaling.paths import config_root

    schema = config_root() / "schemas" / "config.schema.yaml"
    with pytest.raises(ConfigError, match=r"^config key datasets\.mine: give exactly one of fasta .* or blastdb"):
        validate_config({"datasets": {"mine": entry}}, schema, "datasets_file")
