"""Bad input to the data stage beyond FASTA files (test_fasta.py): an aux corpus that reaches outside its folder or
holds binary files, unsafe dataset names, a split that leaves a held-out part empty, a filter band or reference that
cannot work, a negative seed; one line each, exit 2, no output left. A killed `data clean` leaves temporaries that
the next run removes."""

from __future__ import annotations

import json
import pathlib
import socket
import subprocess
import sys

import pytest
import torch

from ...conftest import Payload, cli, run_cli
from . import one_line_error

# ------------------------------------------------------------------------------------- aux corpus: reading


def test_aux_corpus_reads_only_text_files_under_its_folder(tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("SECRET = 1\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("x = 1")
    (src / "link.py").symlink_to(outside / "secret.py")  # a link to a file outside the folder
    (src / "linked").symlink_to(outside, target_is_directory=True)  # and to a folder outside it
    (src / "nul.py").write_bytes(b"x = 1\n\0\0")
    (src / "latin1.py").write_bytes("s = 'caf\xe9'\n".encode("latin-1"))
    with open(src / "sparse.py", "wb") as fh:  # 4 MB of holes: read, it is zeros, a binary file
        fh.truncate(4 << 20)
    with open(src / "huge.py", "wb") as fh:  # 1 GB of holes: over the default limit, never read
        fh.truncate(1 << 30)
    out = tmp_path / "out"
    proc = cli(capsys, "data", "aux", out, "--folder", src)
    assert proc.returncode == 0, proc.stderr
    assert (out / "corpus.u8").read_bytes() == b"x = 1\n"
    info = json.loads((out / "corpus.json").read_text())
    assert info["files"] == 1 and info["bytes"] == 6
    skipped = dict(info["skipped"])
    assert skipped.pop("outside the folder (a linked folder)", 1) == 1  # where glob descends into linked folders
    limit = "over the size limit (max_bytes in all)"
    assert skipped == {"binary (NUL bytes)": 2, "not UTF-8 text": 1, limit: 1, "symbolic link": 1}
    for why, n in info["skipped"].items():  # said on stderr too, one line a reason
        assert f"aux corpus: skipped {n:,} files: {why}" in proc.stderr


def test_aux_corpus_size_limit_is_recorded(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a", "b", "c"):
        (src / f"{name}.py").write_text(name * 9)  # 10 bytes each with the newline
    proc = cli(capsys, "data", "aux", tmp_path / "out", "--folder", src, "--max-bytes", 25)
    assert proc.returncode == 0, proc.stderr
    info = json.loads((tmp_path / "out" / "corpus.json").read_text())
    assert (tmp_path / "out" / "corpus.u8").read_bytes() == b"aaaaaaaaa\nbbbbbbbbb\n"
    assert info["max_bytes"] == 25 and info["skipped"] == {"over the size limit (max_bytes in all)": 1}
    proc = cli(capsys, "data", "aux", tmp_path / "none", "--folder", src, "--max-bytes", 5)  # nothing left: refused
    one_line_error(proc, r"no readable text file matches '\*\.py' under .*src \(3 over the size limit")
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("pattern", ["../../../../etc/shadow", "sub/../../x.py", "/etc/*"])
def test_aux_pattern_that_leaves_the_folder_is_refused(pattern, tmp_path, capsys):
    (tmp_path / "src").mkdir()
    proc = cli(capsys, "data", "aux", tmp_path / "out", "--folder", tmp_path / "src", "--pattern", pattern)
    one_line_error(proc, r"aux corpus: --pattern '.*' must be a relative glob without '\.\.'")
    assert not (tmp_path / "out").exists()


def test_data_split_refuses_an_unsafe_dataset_name_and_a_negative_seed(tmp_path, capsys):
    proc = cli(capsys, "data", "split", tmp_path / "clean", tmp_path / "out", "--dataset", "../x")
    one_line_error(proc, r"data split: --dataset: '\.\./x' is not a safe name")
    proc = cli(capsys, "data", "split", tmp_path / "clean", tmp_path / "out", "--seed", "-1")
    one_line_error(proc, r"argument --seed: -1 is negative")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------- data stage


@pytest.mark.slow
def test_split_that_leaves_a_heldout_split_empty_is_refused(tmp_path, write_fasta, capsys):
    fasta = write_fasta(">a\nMKVLLAGHTKLMNPQRSTVWY\n>b\nACDEFGHIKLMNPQRSTVWYACD\n>c\nMMMMMKKKKKLLLLLAAAAAGGGGG\n")
    assert cli(capsys, "data", "clean", fasta, tmp_path / "clean").returncode == 0
    proc = cli(capsys, "data", "split", tmp_path / "clean", tmp_path / "split")
    one_line_error(proc, r"clean: the valid split came out empty \(train 3, valid 0, test 0 sequences")
    assert not (tmp_path / "split").exists()


def test_killed_clean_leaves_nothing_that_the_next_run_keeps(tmp_path, write_fasta):
    fasta = write_fasta(">a\nMKV\n>b\nLLA\n")
    out = tmp_path / "out"
    out.mkdir()
    orphan = out / f".all.tokens.u8.tmp-{socket.gethostname()}-999999999"  # what kill -9 leaves behind
    orphan.write_bytes(b"x" * 1000)
    foreign = out / ".all.offsets.npy.tmp-another-node-4242"  # another host's (shared disk): not ours to judge
    foreign.write_bytes(b"y")
    mine = out / "my notes.txt"
    mine.write_text("keep")
    assert run_cli("data", "clean", fasta, out).returncode == 0
    assert not orphan.exists() and foreign.exists() and mine.read_text() == "keep"
    failed = tmp_path / "never" / "made"
    assert run_cli("data", "clean", write_fasta(">a\n\n", "bad.fa"), failed).returncode == 2
    assert not (tmp_path / "never").exists()  # a failed step removes the folders it created


def _temporaries(out) -> list:
    """The temporary outputs of a running (or killed) clean in `out` that already hold bytes."""
    found = []
    for path in out.glob(".*.tmp-*") if out.exists() else []:
        try:
            found += [path] if path.stat().st_size > 0 else []
        except FileNotFoundError:  # renamed into place between the glob and the stat
            pass
    return found


def test_a_killed_clean_is_cleaned_up_by_the_next(tmp_path, write_fasta):
    """kill -9 mid-write, then the same command: it finishes and no temporary file is left. The kill lands while
    the first process is writing (its temporaries hold bytes, no final output exists), or the test proves nothing."""
    big = write_fasta("".join(f">s{i}\n{'ACDEFGHIKLMNPQRSTVWY' * 25}\n" for i in range(60_000)), "big.fa")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "plm_scaling.cli", "data", "clean", str(big), str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import signal
    import time

    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None and not _temporaries(out):
        time.sleep(0.01)
    proc.kill()
    assert proc.wait(timeout=60) == -signal.SIGKILL, "clean finished before it could be killed: use a larger input"
    partial = [p.name for p in _temporaries(out)]
    assert partial and not (out / "clean.json").exists(), "the kill did not land mid-write"
    assert run_cli("data", "clean", big, out).returncode == 0
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name], partial
    assert json.loads((out / "clean.json").read_text())["records_kept"] == 60_000


# ------------------------------------------------------------------------------ filter and subset


def test_filter_band_that_keeps_almost_nothing_is_refused(small_manifest, tmp_path, capsys):
    proc = cli(capsys, "data", "filter", small_manifest.parent, tmp_path / "f", "--reference", tmp_path / "none")
    one_line_error(proc, r"none: not a finished run of this workflow \(no run\.json\)")
    for args in (["--drop-top", "0.999999"], ["--drop-top", "0.5", "--drop-bottom", "0.45"]):
        proc = cli(capsys, "data", "filter", small_manifest.parent, tmp_path / "f", "--reference", tmp_path, *args)
        one_line_error(proc, r"filter band: --drop-top .* drop more than 0\.9 of the train sequences")
    assert not (tmp_path / "f").exists()


def test_filtered_manifest_counts_what_was_kept(small_manifest, tiny_clm_run, tmp_path, capsys):
    from plm_scaling.data.shards import Shard

    split, ref = small_manifest.parent, tiny_clm_run[0]
    proc = cli(capsys, "data", "filter", split, tmp_path / "f", "--reference", ref, "--drop-top", "0.5")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "f" / "manifest.json").read_text())
    train, info = manifest["splits"]["train"], manifest["filter"]
    assert train["sequences"] == info["sequences_kept"] == len(Shard.open(tmp_path / "f" / "train"))
    assert train["clusters"] == info["clusters_kept"] <= train["sequences"]  # every kept cluster keeps a member
    assert info["clusters_kept"] < info["clusters_scored"]


def _reference(tmp_path, run: dict | list | None = None, ckpt=None) -> pathlib.Path:
    ref = tmp_path / "ref"
    ref.mkdir()
    done = {"objective": "clm", "sweep_point": "clm_N5000_C4e09_s0", "shape": {"context": 32}}
    (ref / "run.json").write_text(json.dumps(done if run is None else run))
    if isinstance(ckpt, bytes):
        (ref / "final.ckpt").write_bytes(ckpt)
    elif ckpt is not None:
        torch.save(ckpt, ref / "final.ckpt")
    return ref


FILTER_CASES = {
    "pickled_payload": ({"ckpt": "payload"}, r"ref/final\.ckpt: not a readable checkpoint .*weights-only loader"),
    "empty_checkpoint": ({"ckpt": b""}, r"ref/final\.ckpt: not a readable checkpoint"),
    "list_checkpoint": ({"ckpt": [1, 2, 3]}, r"ref/final\.ckpt: not a readable checkpoint .*a list"),
    "dict_checkpoint": ({"ckpt": {"state_dict": {}}}, r"ref/final\.ckpt: not a readable checkpoint .*hyper_param"),
    "no_objective": ({"run": {"sweep_point": "x", "shape": {"context": 32}}}, r"run\.json: key objective missing"),
    "list_run": ({"run": [1, 2]}, r"ref/run\.json: not a run record"),
    "no_context": ({"run": {"objective": "clm", "sweep_point": "x"}}, r"run\.json: key shape\.context missing"),
}


@pytest.mark.parametrize("case", sorted(FILTER_CASES))
def test_filter_refuses_a_reference_that_is_not_a_finished_run(case, small_manifest, tmp_path, capsys):
    kwargs, pattern = FILTER_CASES[case]
    marker = tmp_path / "pwned"
    if kwargs.get("ckpt") == "payload":
        kwargs = {"ckpt": {"state_dict": {}, "hyper_parameters": {}, "x": Payload(marker)}}
    ref = _reference(tmp_path, **kwargs)
    proc = cli(capsys, "data", "filter", small_manifest.parent, tmp_path / "f", "--reference", ref)
    one_line_error(proc, pattern)
    assert not marker.exists() and not (tmp_path / "f").exists()


def test_subset_refuses_a_negative_seed(tmp_path, capsys):
    from plm_scaling.data.subset import unique_subset

    proc = cli(capsys, "data", "subset", tmp_path, tmp_path / "out", "--tokens", "100", "--seed", "-1")
    one_line_error(proc, r"argument --seed: -1 is negative")
    with pytest.raises(ValueError, match=r"data subset: --seed -1 must be a whole number in \[0, 2\^32\)"):
        unique_subset(tmp_path, tmp_path / "out", 100, seed=-1)
    assert not (tmp_path / "out").exists()
