"""Parametric and data-constrained laws read from the JSON files this project writes (or a user's own).

A law is found wherever these files keep one: at the top of the file ({"E": ..., "A": ...}), under "law" (`fit
parametric --json`, with or without --u-col), under the objective, or in a study's fits.json (fits.OBJ.repeated.law
for the data-constrained law, fits.OBJ.parametric for the base law) or the paper's (parametric.OBJ). Every value is
checked before use; a missing or bad law is a ValueError naming the file and the key.
"""

from __future__ import annotations

import json
import math

from .parametric import LAW_KEYS

R_KEYS = ("R_D_star", "R_N_star")


def _places(doc: dict, objective: str | None) -> list[tuple[str, object]]:
    """(key path, value) of every place a law may sit, in the order they are tried."""
    places = [("", doc), ("law.", doc.get("law"))]
    if objective:
        fits = doc.get("fits") if isinstance(doc.get("fits"), dict) else {}
        own = fits.get(objective) if isinstance(fits.get(objective), dict) else {}
        repeated = own.get("repeated") if isinstance(own.get("repeated"), dict) else {}
        paper = doc.get("parametric") if isinstance(doc.get("parametric"), dict) else {}
        mine = doc.get(objective) if isinstance(doc.get(objective), dict) else {}
        places += [
            (f"{objective}.", mine),
            (f"{objective}.law.", mine.get("law")),
            (f"fits.{objective}.repeated.law.", repeated.get("law")),
            (f"fits.{objective}.parametric.", own.get("parametric")),
            (f"parametric.{objective}.", paper.get(objective)),
        ]
    return [(k, v) for k, v in places if isinstance(v, dict)]


def _checked(law: dict, where: str, keys) -> dict:
    out = {}
    for key in keys:
        value = law[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{where}{key}: {value!r} is not a finite number")
        low_ok = value >= 0 if key == "E" else value > 0
        if not low_ok:
            raise ValueError(f"{where}{key}: {value:g} must be {'at least' if key == 'E' else 'above'} 0")
        out[key] = float(value)
    return out


def read_json_object(path: str) -> dict:
    """A laws file's JSON object; anything else is a ValueError naming the file."""
    from ..io import read_json

    try:
        doc = read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a JSON file ({err})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a JSON object of laws")
    return doc


def read_law(path: str, objective: str | None = None, data_constrained: bool = False) -> tuple[dict, str]:
    """(the law, the key it was read from) from a JSON file; with `data_constrained` the law must carry R_D* and
    R_N* too."""
    doc = read_json_object(path)
    keys = LAW_KEYS + (R_KEYS if data_constrained else ())
    for where, law in _places(doc, objective):
        if all(k in law for k in keys):
            return _checked(law, f"{path}: key {where}", keys), where.rstrip(".") or "(top level)"
    what = "data-constrained law (E, A, B, alpha, beta, R_D_star, R_N_star)" if data_constrained else "law"
    hint = " (fit one with `plm-scaling fit parametric CSV --u-col ... --json`)" if data_constrained else ""
    scope = f" for {objective}" if objective else ""
    raise ValueError(f"{path}: no {what}{scope} in this file{hint}")
