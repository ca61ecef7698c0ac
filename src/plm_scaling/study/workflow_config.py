"""The workflow's configuration checked once, before any job: config/config.yaml against its schema (defaults
filled in place), the study it names (study_file.load_study), the datasets that study brings (study key
datasets_file), and every name that becomes a folder under results/. rules/common.smk calls `prepare` and reads
the study and its sweep points from what it returns; every problem is one ValueError line naming file and key."""

from __future__ import annotations

from pathlib import Path

from ..config_schema import validate_config
from ..io import read_yaml
from ..names import RECIPE, check_name
from ..training import tuned
from .study_file import load_study
from .sweeps import Point, expand, grids

NULL_TEXT = ("none", "null", "")  # `--config paper_logs=null` arrives as text: it means "skip", as YAML's null does


def prepare(config: dict, basedir: Path) -> tuple[dict | None, dict[str, Point]]:
    """(the study's spec or None, its sweep points by id), with `config` checked and completed in place."""
    schema = basedir / "config" / "schemas" / "config.schema.yaml"
    for key in ("paper_logs", "study"):
        if str(config.get(key)).lower() in NULL_TEXT:
            config[key] = None
    validate_config(config, schema)
    if config["study"] is None:
        points, study = {}, None
    else:
        # `--config study=../../x` would otherwise write every output of the study outside results/
        path = study_file(config, basedir, check_name(config["study"], "config key study"))
        study = load_study(path, schema=schema).spec
        points = expand(study, where=f"{path}: ")
        if study["datasets_file"]:
            add_study_datasets(config, basedir / study["datasets_file"], schema, f"{path}: datasets_file")
        check_study_inputs(config, study, points, path)
    for key in ("datasets", "aux_corpora"):
        for name in config[key]:
            check_name(name, f"config key {key}")
    return study, points


def study_file(config: dict, basedir: Path, name: str) -> Path:
    """config/studies/NAME.yaml beside the Snakefile, or in config key study_dir; one line if it is missing."""
    path = Path(config["study_dir"] or basedir / "config" / "studies") / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"config key study: no file {path}")
    return path


def add_study_datasets(config: dict, path: Path, schema: Path, named_by: str) -> None:
    """Adds the datasets of a study's datasets file to config key datasets. A dataset config already defines must
    have the same values: one name, one dataset."""
    if not path.is_file():
        raise ValueError(f"{named_by}: no file {path}")
    extra = read_yaml(path, f"{path}: ") or {}
    validate_config(extra, schema, definition="datasets_file", where=f"{path}: ")
    for name, spec in extra["datasets"].items():
        check_name(name, f"{path}: dataset")  # it becomes a folder under results/data
        if config["datasets"].setdefault(name, spec) != spec:
            raise ValueError(f"{path}: dataset {name!r} differs from config key datasets.{name}; rename one")


def check_study_inputs(config: dict, study: dict, points: dict[str, Point], where: Path) -> None:
    """Every dataset a sweep point trains on, and the study's aux corpus, is defined in config."""
    for name in sorted({p.dataset for p in points.values()}):
        if name not in config["datasets"]:
            raise ValueError(f"{where}: dataset {name!r} is not a key of config datasets")
    if study["aux_corpus"] not in config["aux_corpora"]:
        raise ValueError(f"{where}: aux_corpus {study['aux_corpus']!r} is not a key of config aux_corpora")
    check_recipe(study, config["study"], where)


def check_recipe(study: dict, name: str, where: Path) -> None:
    """The tuned recipe a study names (study key recipe) is another study's, and that study has written it: the
    tuning study runs first, as a workflow of its own (its training jobs are not this study's)."""
    tuning = study.get("recipe")
    if tuning is None:
        return
    check_name(tuning, f"{where}: recipe")
    if tuning == name:
        raise ValueError(f"{where}: recipe {tuning!r} is this study itself; name the tuning study that wrote one")
    if any("beta2s" in grid for grid in grids(study)):  # the recipe's beta2 would silently replace the grid's
        raise ValueError(f"{where}: recipe: a study trained with a recipe takes its beta2; drop the grid key beta2s")
    path = Path(RECIPE.format(tuning))
    if not path.is_file():
        first = f"run the tuning study first (make reproduce STUDY={tuning})"
        raise ValueError(f"{where}: recipe: {path} not found; {first}")
    for objective in sorted({o for grid in grids(study) for o in grid["objectives"]}):
        tuned.read(path, objective)  # one line (config key optim.recipe: ...) if it has no usable entry for it
