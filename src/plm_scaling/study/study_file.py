"""A study file (config/studies/NAME.yaml) read one way everywhere: validated against $defs/study of the config
schema with its defaults filled, and its grids expanded once, so that a bad grid or point override stops whoever
reads it with one line naming the file and the key. The workflow (rules/common.smk) adds the checks that need the
workflow's config (its datasets and auxiliary corpora); the fit, the extrapolation plan and the audit read it here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config_schema import validate_config
from ..io import read_yaml
from ..paths import config_root
from .sweeps import expand


@dataclass(frozen=True)
class Study:
    """A study file as read: where it is, and its content with the schema's defaults filled (`spec`, the dict
    sweeps.expand and the fit read)."""

    path: Path
    spec: dict

    @property
    def name(self) -> str:
        return self.path.stem


def load_study(path: str | Path, where: str | None = None, schema: str | Path | None = None) -> Study:
    """The study file at `path`, checked; ValueError('WHERE: config key a.b: why') (`where` defaults to the path).
    `schema`: the config schema (default: the checkout's, paths.config_root; the workflow passes its own)."""
    path = Path(path)
    where = f"{path}: " if where is None else where
    spec = read_yaml(path, where)
    spec = {} if spec is None else spec  # an empty file: the schema names the first key it lacks
    if not isinstance(spec, dict):
        raise ValueError(f"{where}not a mapping of study keys (config/schemas/config.schema.yaml $defs/study)")
    schema = config_root() / "schemas" / "config.schema.yaml" if schema is None else schema
    validate_config(spec, schema, definition="study", where=where)
    expand(spec, where)  # a bad grid or point override (sweeps.grids, sweeps.expand) stops the reader here
    return Study(path, spec)
