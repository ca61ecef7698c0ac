"""Each stage's code hash covers exactly the code the stage runs, found from its real imports: a change to a module
training imports reruns training, a change to the analysis or the command line does not, and a module newly
imported is covered from then on. Training depends on the sweep point, never on the study layer."""

import shutil
from pathlib import Path

import pytest

from plm_scaling.code_stages import stage_hash, stage_modules
from plm_scaling.paths import PACKAGE


def _names(stage: str, package: Path = PACKAGE) -> set[str]:
    return {p.relative_to(package).as_posix() for p in stage_modules(stage, package)}


def test_training_runs_the_sweep_point_and_nothing_of_the_study_layer():
    train = _names("train")
    assert {"sweep_point.py", "training/train.py", "model/transformer.py", "digests.py"} <= train
    assert not [m for m in train if m.startswith(("study/", "analysis/", "plotting/", "cli/"))]
    assert not [m for m in _names("data") if m.startswith(("study/", "analysis/", "plotting/", "cli/"))]
    assert "sweep_point.py" in _names("analysis") and "study/fit.py" in _names("analysis")


@pytest.fixture
def package(tmp_path):
    """A copy of the package with the layout the hash reads (src/plm_scaling beside config/schemas)."""
    copy = tmp_path / "src" / "plm_scaling"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PACKAGE.parents[1] / "config" / "schemas", tmp_path / "config" / "schemas")
    return copy


def _hashes(package: Path) -> dict[str, str]:
    return {stage: stage_hash(stage, package) for stage in ("data", "train", "analysis")}


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_a_change_reruns_the_stages_that_import_it_and_only_those(package):
    before = _hashes(package)
    _append(package / "cli" / "study.py", "\n# argument parsing only\n")
    assert _hashes(package) == before
    _append(package / "study" / "fit.py", "\n# an analysis change\n")
    after_fit = _hashes(package)
    assert after_fit["analysis"] != before["analysis"] and after_fit["train"] == before["train"]
    _append(package / "sweep_point.py", "\n# imported by training and the analysis\n")
    after_point = _hashes(package)
    assert after_point["train"] != after_fit["train"] and after_point["analysis"] != after_fit["analysis"]
    assert after_point["data"] == before["data"]


def test_a_module_newly_imported_by_training_is_covered(package):
    (package / "helper_new.py").write_text("VALUE = 1\n")
    before = _hashes(package)
    _append(package / "training" / "recipe.py", "\n\ndef _uses_helper():\n    from ..helper_new import VALUE\n")
    imported = _hashes(package)
    (package / "helper_new.py").write_text("VALUE = 2\n")
    assert _hashes(package)["train"] != imported["train"] != before["train"]


def test_the_fits_schema_is_the_analysis_stages_alone(package):
    before = _hashes(package)
    _append(package.parents[1] / "config" / "schemas" / "fits.schema.yaml", "\n# a new key described\n")
    after = _hashes(package)
    assert after["analysis"] != before["analysis"]
    assert (after["data"], after["train"]) == (before["data"], before["train"])
