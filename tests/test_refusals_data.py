"""Refusals of the data side and the study's plans (issue 22, red-team section 3): reading outside a folder,
writing outside results/, silent wrong runs, tracebacks. Each bad input is one line naming the file, key or
option (exit 2), and leaves no output behind."""

from __future__ import annotations

import json
import pathlib
import re

import pytest
import torch
import yaml

from plm_scaling.config_schema import ConfigError, validate_config
from plm_scaling.names import check_name
from plm_scaling.study.extrapolate import read_plan
from plm_scaling.study.sweeps import expand

from .conftest import REPO, Payload, cli, copy_workflow, fixture_fits, run_snakemake
from .test_bad_input import one_line_error

SCHEMA = REPO / "config" / "schemas" / "config.schema.yaml"

# ------------------------------------------------------------------------------------- 1. aux corpus: reading


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


# ------------------------------------------------------------------------------ 2. names that become paths


def test_safe_names():
    for name in ("smoke", "uniprot_example", "a.b+c-1", "U1e+04"):
        assert check_name(name, "k") == name
    for bad in ("../x", "..", "a/b", "", ".hidden", "-x", "a..b", "a b", None, 3):
        with pytest.raises(ValueError, match=r"^k: .* is not a safe name"):
            check_name(bad, "k")


def test_plan_point_ids_that_leave_results_are_refused(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"points": {"clm_N5000_C1e10_s0": ["seed=0"], "../../../../x": ["seed=0"]}}))
    with pytest.raises(ValueError, match=r"plan\.json: point id: '\.\./\.\./\.\./\.\./x' is not a safe name"):
        read_plan(plan)
    plan.write_text(json.dumps({"points": {"clm_N5000_C1e10_s0": "seed=0"}}))
    with pytest.raises(ValueError, match=r"plan\.json: points\.clm_N5000_C1e10_s0: its overrides are not a list"):
        read_plan(plan)
    plan.write_text(json.dumps({"points": {"clm_N5000_C1e10_s0": ["seed=0"]}}))
    assert list(read_plan(plan)["points"]) == ["clm_N5000_C1e10_s0"]


@pytest.mark.parametrize(
    "config, pattern",
    [
        ({"study": "../../x"}, r"config key study: '\.\./\.\./x' is not a safe name"),
        ({"datasets": {"..": {"fasta": "x.fasta"}}}, r"config key datasets: '\.\.' is not a safe name"),
    ],
    ids=["study", "dataset"],
)
def test_unsafe_names_stop_the_workflow_at_config_validation(config, pattern, tmp_path):
    cfg = copy_workflow(tmp_path, paper_logs=None, **config)
    proc = run_snakemake(tmp_path, tmp_path, cfg, "-n")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and re.search(pattern, out), out[-2000:]
    assert not (tmp_path / "results").exists() and not (tmp_path.parent / "x").exists()


def test_data_split_refuses_an_unsafe_dataset_name_and_a_negative_seed(tmp_path, capsys):
    proc = cli(capsys, "data", "split", tmp_path / "clean", tmp_path / "out", "--dataset", "../x")
    one_line_error(proc, r"data split: --dataset: '\.\./x' is not a safe name")
    proc = cli(capsys, "data", "split", tmp_path / "clean", tmp_path / "out", "--seed", "-1")
    one_line_error(proc, r"argument --seed: -1 is negative")
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------- 3. silent wrong runs

STUDY = {"dataset": "d", "seeds": [0], "overrides": [], "point_overrides": {}}


@pytest.mark.parametrize("u", [0.5, 1.5, 0, -3])
def test_unique_tokens_must_be_whole_numbers_of_at_least_one(u):
    grid = {"objectives": ["clm"], "sizes": [3000], "tokens": [8e6], "unique_tokens": [3e4, u]}
    with pytest.raises(ConfigError, match=rf"config key sweeps\[0\]\.unique_tokens: {u!r} is not a whole number"):
        expand({**STUDY, "sweeps": [grid]})
    with pytest.raises(ConfigError, match=r"config key sweeps\.0\.unique_tokens\.1: "):
        validate_config({"dataset": "d", "sweeps": [grid]}, SCHEMA, definition="study")
    points = expand({**STUDY, "sweeps": [{**grid, "unique_tokens": [3e4, 5.0e3]}]})
    assert sorted(p.unique_tokens for p in points.values()) == [5000, 30000]


@pytest.mark.parametrize("share", [0.9999999, 0.001, 0.125, 0.995])
def test_transfer_shares_must_round_trip_through_their_id(share):
    grid = {"objectives": ["mlm"], "sizes": [5000], "budgets": [1e10], "transfer_shares": [0, share]}
    with pytest.raises(ConfigError, match=rf"transfer_shares: {share!r} is not 0 \(scratch\) or a share in"):
        expand({**STUDY, "sweeps": [grid]})
    ok = expand({**STUDY, "sweeps": [{**grid, "transfer_shares": [0, 0.01, 0.25, 0.99]}]})
    assert {"clm_N5000_C1e10_pre0.99_s0", "mlm_N5000_C1e10_clm0.99_s0", "clm_N5000_C1e10_pre0.01_s0"} <= set(ok)


def test_schema_bounds_shares_and_filter_band():  # extrapolate.factor: PLAN_CASES factor_huge
    study = {"dataset": "d", "objectives": ["mlm"], "sizes": [5000], "budgets": [1e10]}
    with pytest.raises(ConfigError, match=r"transfer_shares\.0: 0\.9999999 is greater than the maximum of 0\.99"):
        validate_config({**study, "transfer_shares": [0.9999999]}, SCHEMA, definition="study")
    config = {"datasets": {"d": {"fasta": "x", "filter": {"reference_run": "r", "drop_top": 0.999999}}}}
    with pytest.raises(ConfigError, match=r"datasets\.d\.filter"):
        validate_config(config, SCHEMA)


LAW = {"n_opt": {"coef": 12000 / 1e10**0.5, "exponent": 0.5}, "loss": {"coef": 2.9, "exponent": -0.001}}


def _plan_inputs(tmp_path, law=None, law_text=None, **extrapolate) -> tuple:
    """A fits JSON (one CLM run at 1e10 FLOPs), a law file and a study file that extrapolates it."""
    fits, data = tmp_path / "fits.json", fixture_fits("study")
    run = {**data["input_runs"][0], "objective": "clm", "flops": 1.0e10, "sweep_point": "clm_N12000_C1e10_s0"}
    fits.write_text(json.dumps({**data, "input_runs": [run]}))
    law_file = tmp_path / "law.json"
    law_file.write_text(law_text if law_text is not None else json.dumps({"clm": law or LAW}))
    study = tmp_path / "s.yaml"
    spec = {"dataset": "d", "objectives": ["clm"], "sizes": [12000], "budgets": [1.0e10]}
    spec["extrapolate"] = {"objectives": ["clm"], "law": str(law_file), "factor": 1, **extrapolate}
    study.write_text(yaml.safe_dump(spec))
    return fits, study, tmp_path / "out" / "plan.json"


def test_plan_check_plans_a_good_law(tmp_path, capsys):
    fits, study, out = _plan_inputs(tmp_path)
    proc = cli(capsys, "study", "plan-check", fits, study, out)
    assert proc.returncode == 0, proc.stderr
    plan = read_plan(out)
    assert sorted(plan["points"]) == ["clm_N12000_C1e10_s0", "clm_N24000_C1e10_s0", "clm_N6000_C1e10_s0"]


def _n_opt(**law) -> dict:
    return {**LAW, "n_opt": {**LAW["n_opt"], **law}}


PLAN_CASES = {
    "coef_text": ({"law": _n_opt(coef="abc")}, r"law\.json: key clm\.n_opt\.coef: 'abc' is not a finite number"),
    "coef_empty": ({"law": _n_opt(coef="")}, r"law\.json: key clm\.n_opt\.coef: '' is not a finite number"),
    "coef_list": ({"law": _n_opt(coef=[1])}, r"law\.json: key clm\.n_opt\.coef: \[1\] is not a finite number"),
    "coef_zero": ({"law": _n_opt(coef=0)}, r"law\.json: key clm\.n_opt\.coef: 0 must be above 0"),
    "coef_negative": ({"law": _n_opt(coef=-1.2)}, r"law\.json: key clm\.n_opt\.coef: -1\.2 must be above 0"),
    "coef_nan": ({"law": _n_opt(coef=float("nan"))}, r"law\.json: key clm\.n_opt\.coef: nan is not a finite"),
    "coef_inf": ({"law": _n_opt(coef=float("inf"))}, r"law\.json: key clm\.n_opt\.coef: inf is not a finite"),
    "exponent_huge": ({"law": _n_opt(exponent=1e6)}, r"law\.json: key clm\.n_opt\.exponent: 1e\+06 is outside"),
    "exponent_missing": ({"law": {"n_opt": {"coef": 1}}}, r"law\.json: key clm\.n_opt\.exponent: None is not a"),
    "law_list": ({"law": {"n_opt": []}}, r"law\.json: key clm\.n_opt: \[\] is not a law"),
    "loss_text": ({"law": {**LAW, "loss": "x"}}, r"law\.json: key clm\.loss: 'x' is not a law"),
    "samples_bad": ({"law": _n_opt(samples=[[1, 2, 3]])}, r"key clm\.n_opt\.samples: not a list of \(coef, exp"),
    "file_empty": ({"law_text": ""}, r"law\.json: not a JSON file"),
    "file_text": ({"law_text": "N_opt = 0.12 C^0.5"}, r"law\.json: not a JSON file"),
    "file_list": ({"law_text": "[1, 2]"}, r"law\.json: not a JSON object of laws"),
    "factor_huge": ({"factor": 1e9}, r"s\.yaml: config key extrapolate\.factor: 1000000000\.0 is greater than"),
    "multiple_nan": ({"multiples": [0.5, float("nan")]}, r"s\.yaml: config key extrapolate\.multiples: .* not finite"),
    "too_large": (
        {"law": _n_opt(coef=1e13 / 1e10**0.5)},
        r"extrapolate\.factor: the planned clm size 5,000,000,000,000",
    ),
}


@pytest.mark.parametrize("case", sorted(PLAN_CASES))
def test_plan_check_refuses_what_no_run_could_follow(case, tmp_path, capsys):
    kwargs, pattern = PLAN_CASES[case]
    fits, study, out = _plan_inputs(tmp_path, **kwargs)
    proc = cli(capsys, "study", "plan-check", fits, study, out)
    one_line_error(proc, pattern)
    assert not out.parent.exists()


def test_plan_check_records_a_fit_law_it_cannot_plan_from(tmp_path, capsys):
    """The study's own fit with a nan coefficient: that objective gets an error, no `Nnan` point is planned."""
    fits, study, out = _plan_inputs(tmp_path)
    spec = yaml.safe_load(study.read_text())
    del spec["extrapolate"]["law"]
    study.write_text(yaml.safe_dump(spec))
    data = json.loads(fits.read_text())
    data["fits"]["clm"]["isoflop"]["n_opt"]["coef"] = float("nan")
    fits.write_text(json.dumps(data))
    proc = cli(capsys, "study", "plan-check", fits, study, out)
    assert proc.returncode == 0, proc.stderr
    plan = read_plan(out)
    assert plan["points"] == {}
    assert "fits.clm.isoflop.n_opt.coef: nan is not a finite number" in plan["objectives"]["clm"]["error"]


# ------------------------------------------------------------------------------ 3/4. data filter and subset


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
