"""One reader of a study file (study/study_file.py load_study): the schema's defaults filled, the grids checked,
bad input one line naming the file and the key; every study the project ships reads."""

from __future__ import annotations

import re

import pytest
import yaml

from plm_scaling.paths import config_root
from plm_scaling.study.study_file import Study, load_study
from plm_scaling.study.sweeps import expand

GRID = {"dataset": "d", "objectives": ["clm"], "sizes": [5000, 12000], "budgets": [1e10]}


def _study(tmp_path, spec, name: str = "s") -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec))
    return path


def test_defaults_are_filled_and_the_file_named(tmp_path):
    path = _study(tmp_path, GRID, "tiny")
    study = load_study(path)
    assert isinstance(study, Study) and study.name == "tiny" and study.path == path
    defaults = {"seeds": [0], "overrides": [], "point_overrides": {}, "aux_corpus": "python_stdlib"}
    assert study.spec.items() >= {**GRID, **defaults}.items()  # the file's keys kept, the schema's defaults added
    assert sorted(expand(study.spec)) == ["clm_N12000_C1e10_s0", "clm_N5000_C1e10_s0"]


CASES = {
    "schema": ({**GRID, "seeds": [-1]}, r"config key seeds\.0: -1 is less than the minimum of 0"),
    "unknown key": ({**GRID, "size": [1]}, r"config key \(top level\): Additional properties are not allowed"),
    "grid": ({**GRID, "sweeps": [{"objectives": ["clm"], "sizes": [1], "budgets": [1]}]}, r"config key sweeps: give"),
    "budget": ({**GRID, "tokens": [1e6]}, r"config key budgets: give exactly one of budgets \(FLOPs\) or tokens"),
    "point override": (
        {**GRID, "point_overrides": {"clm_N1_C1e10_s0": ["x=1"]}},
        r"config key point_overrides: unknown sweep points \['clm_N1_C1e10_s0'\]",
    ),
    "yaml": ("dataset: [d", r"not a YAML file \(while parsing"),
    "list": ("- dataset: d\n", r"not a mapping of study keys"),
    "empty": ("", r"config key \(top level\): 'dataset' is a required property"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_study_is_one_line_naming_the_file_and_key(case, tmp_path):
    spec, pattern = CASES[case]
    path = _study(tmp_path, spec)
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: {pattern}") as err:
        load_study(path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("path", sorted((config_root() / "studies").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_study_reads(path):
    study = load_study(path)
    assert study.name == path.stem and expand(study.spec)
