"""The fits JSON's written shape (config/schemas/fits.schema.yaml), checked when a step writes one and whenever a
step reads one: a renamed, missing or mistyped key stops the step with one line naming the file and the key, not a
KeyError deep inside a figure, the extrapolation plan or the audit.

Two shapes ($defs of the schema): `study` (a study's fits.json and its extrapolation check.json, study/fit.py) and
`paper` (the paper stage's fits.json, study/paper_stage.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config_schema import first_problem
from ..paths import config_root

KINDS = ("study", "paper")
SHOWN = 200  # characters of a problem shown: jsonschema quotes the whole offending value, which may be a law


def schema_path() -> Path:
    """Beside the config schema, found the same way (the checkout's config/, paths.config_root)."""
    return config_root() / "schemas" / "fits.schema.yaml"


def check_fits(fits: Any, where: str | Path, kind: str = "study") -> Any:
    """`fits` unchanged if it has the shape $defs/<kind>_fits says, else ValueError('WHERE: fits key a.b: why')."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of fits JSON {kind!r} ({', '.join(KINDS)})")
    # checked as the file holds it: write_json's conversions applied (a numpy integer is no JSON integer before)
    as_written = json.loads(json.dumps(fits, default=str))
    problem = first_problem(as_written, schema_path(), f"{kind}_fits")
    if problem is not None:
        key, message = problem
        message = " ".join(message.split())
        shown = message if len(message) <= SHOWN else f"{message[:SHOWN]}..."
        raise ValueError(f"{where}: fits key {key}: {shown}")
    return fits


def parse_fits(text: str | bytes, where: str | Path, kind: str = "study") -> dict:
    """A fits JSON's content as read (e.g. the very bytes a step hashed, digests.read_inputs), checked."""
    try:
        fits = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{where}: not a JSON file ({err})") from None
    return check_fits(fits, where, kind)


def read_fits(path: str | Path, kind: str = "study") -> dict:
    """The fits JSON at `path`, checked: every reader of a fits JSON reads it through here (or parse_fits)."""
    return parse_fits(Path(path).read_bytes(), path, kind)
