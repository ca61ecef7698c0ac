"""JSON-schema validation of config/config.yaml with defaults filled in and one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml


def _with_defaults(cls):
    """A validator class that also writes each property's `default` into the instance (snakemake-workflows style)."""
    check_properties = cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = sub["default"]
        yield from check_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(cls, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


class ConfigError(ValueError):
    pass


def first_problem(instance: Any, schema_path: str | Path, definition: str | None = None) -> tuple[str, str] | None:
    """(dotted key, message) of the most relevant problem of `instance` (defaults filled in place), or None.
    `definition` validates against $defs/<definition> of the schema instead of the whole."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    if definition is not None:
        schema = {**schema["$defs"][definition], "$defs": schema["$defs"]}
    error = jsonschema.exceptions.best_match(_Validator(schema).iter_errors(instance))
    if error is None:
        return None
    # a oneOf of required keys says which to give (its schema's x-one-of) rather than dumping the whole mapping
    message = error.schema.get("x-one-of", error.message) if error.validator == "oneOf" else error.message
    return ".".join(map(str, error.absolute_path)) or "(top level)", message


def validate_config(
    config: dict[str, Any], schema_path: str | Path, definition: str | None = None, where: str = ""
) -> dict[str, Any]:
    """Validate in place (filling defaults); raise ConfigError('config key a.b: ...') on the first problem."""
    problem = first_problem(config, schema_path, definition)
    if problem is not None:
        raise ConfigError(f"{where}config key {problem[0]}: {problem[1]}")
    return config
