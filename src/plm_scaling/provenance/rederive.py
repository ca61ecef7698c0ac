"""`audit --recompute`: the figure re-derived from its runs. The loss table is rebuilt from the runs' files (or the
authors' released CSVs), the fit is run again with the settings its JSON recorded, and the figure is drawn again;
every number and every byte is compared with what was recorded. All of it is deterministic (seeded bootstrap, the
same code on the same machine), so the comparison is exact: any difference fails, naming the number.

Nothing is written but temporary files (removed); results are kept per fits file for the figures of one audit.
"""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from pathlib import Path

from ..code_stages import sha256_text
from ..io import read_json, sha256_file
from ..study.fits_schema import read_fits

SHOWN = 5  # differences named per comparison (then a count)


def differences(recorded, recomputed, where: str) -> list[str]:
    """Every place where two JSON values differ (floats exactly, NaN equal to NaN), as `where.key[i]: a != b`."""
    if isinstance(recorded, dict) and isinstance(recomputed, dict):
        out = [
            f"{where}.{k}: only in the {'recorded' if k in recorded else 'recomputed'} fit"
            for k in sorted(set(recorded) ^ set(recomputed), key=str)
        ]
        for k in sorted(set(recorded) & set(recomputed), key=str):
            out += differences(recorded[k], recomputed[k], f"{where}.{k}")
        return out
    if isinstance(recorded, list) and isinstance(recomputed, list):
        if len(recorded) != len(recomputed):
            return [f"{where}: {len(recorded)} entries recorded, {len(recomputed)} recomputed"]
        return [d for i, (a, b) in enumerate(zip(recorded, recomputed)) for d in differences(a, b, f"{where}[{i}]")]
    same_nan = (
        isinstance(recorded, float)
        and isinstance(recomputed, float)
        and math.isnan(recorded)
        and math.isnan(recomputed)
    )
    return [] if recorded == recomputed or same_nan else [f"{where}: recorded {recorded!r}, recomputed {recomputed!r}"]


def as_json(value):
    """`value` as the fits JSON stores it (write_json's conversions), so that both sides compare alike."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def named(problems: list[str], what: str) -> list[str]:
    """The first SHOWN differences, prefixed with what was compared, and how many more."""
    shown = [f"{what}: {p}" for p in problems[:SHOWN]]
    return shown + ([f"{what}: {len(problems) - SHOWN} more differences"] if len(problems) > SHOWN else [])


def text_problems(path: Path, expected: str, what: str) -> list[str]:
    """A file's text against the text recomputed: the first line that differs, both versions."""
    if not path.is_file():
        return [f"{what}: {path} is missing"]
    now, again = path.read_text(encoding="utf-8").splitlines(), expected.splitlines()
    for i, (a, b) in enumerate(zip(now, again), start=1):
        if a != b:
            return [f"{what}: {path} line {i} is {a!r}, recomputed {b!r}"]
    if len(now) != len(again):
        return [f"{what}: {path} has {len(now)} lines, recomputed {len(again)}"]
    return []


def bytes_problems(path: Path, redrawn: Path, what: str) -> list[str]:
    """A figure file against the same figure drawn again from the recomputed numbers."""
    if not path.is_file():
        return [f"{what}: {path.name} is missing beside the figure"]
    if sha256_file(path) != sha256_file(redrawn):
        return [
            f"{what}: {path.name} is not what the recomputed numbers draw (sha256 {sha256_file(path)[:12]}, "
            f"redrawn {sha256_file(redrawn)[:12]})"
        ]
    return []


_CACHE: dict[tuple, dict] = {}  # (what was read, hashed) -> the fit recomputed from it


def _cached(key: tuple, compute) -> dict:
    """The figures of one fit share its recomputation; a key names every byte it was computed from."""
    if key not in _CACHE:
        _CACHE[key] = compute()
    return _CACHE[key]


def _csv_text(table) -> str:
    with tempfile.TemporaryDirectory(prefix="plm-audit-") as tmp:
        table.write_csv(Path(tmp) / "table.csv")
        return (Path(tmp) / "table.csv").read_text(encoding="utf-8")


def _analysis(fits: dict):
    """The analyse function of the step that wrote `fits`, rebuilt from the settings it recorded."""
    derivation = fits.get("derivation")
    if derivation is None:
        raise ValueError("the fits JSON records no derivation settings (made before re-derivation); rerun its fit")
    if derivation["step"] == "check":
        from ..study.extrapolate import check_analysis

        plan = read_json(fits["planned_from"]["plan"])
        return check_analysis(plan, read_fits(plan["fits"]))
    from ..study.fit import study_analysis
    from ..study.study_file import load_study

    spec = load_study(fits["study_file"]).spec
    paper = fits.get("paper_table", {}).get("path")
    return study_analysis(spec, paper, derivation["bootstrap"], derivation["seed"])


def study_fit(fits_path: Path) -> tuple:
    """(fits as recorded, recomputed table, recomputed runs, recomputed fits, problems) of a study's fit or check
    JSON: runs re-collected from their folders, the analysis run again with the recorded settings, and the loss
    table, fits and fits table compared with those recorded."""
    from ..study.collect import collect
    from ..study.fits_table import write_fits_table

    fits = read_fits(fits_path)
    try:
        analyse = _analysis(fits)
    except (ValueError, OSError, KeyError) as err:
        return fits, None, None, None, [f"recompute {fits_path.name}: {err}"]
    run_dirs = [r["run_dir"] for r in fits["input_runs"]]
    table, runs = collect(run_dirs, fits["study"], Path(fits["workdir"])) if run_dirs else (_empty(), [])
    runs, text = as_json(runs), _csv_text(table)
    problems = text_problems(Path(fits["loss_table"]), text, "recompute: loss table") if run_dirs else []

    def compute():
        from threadpoolctl import threadpool_limits

        # thousands of tiny least-squares problems: BLAS worker threads only spin (fits.fit_all)
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the fit step recorded its warnings; they are not compared
            return as_json(analyse(table, runs))

    read = (
        sha256_file(fits_path),
        sha256_text(text),
        sha256_text(json.dumps(runs, sort_keys=True)),
        *_settings_files(fits),
    )
    recomputed = _cached(read, compute)
    problems += named(differences(fits["fits"], recomputed, "fits"), f"recompute: {fits_path.name}")
    problems += named(differences(fits["input_runs"], runs, "input_runs"), f"recompute: {fits_path.name}")
    if fits.get("fits_table"):
        with tempfile.TemporaryDirectory(prefix="plm-audit-") as tmp:
            write_fits_table(recomputed, Path(tmp) / "fits_table.csv")
            again = (Path(tmp) / "fits_table.csv").read_text(encoding="utf-8")
        problems += text_problems(Path(fits["fits_table"]), again, "recompute: fits table")
    return fits, table, runs, recomputed, problems


def _settings_files(fits: dict) -> list[str | None]:
    """sha256 of the files the analysis reads besides the runs (study file, authors' table, plan): part of the key
    under which a recomputation is kept, so that an edit between two audits in one process is not missed."""
    paths = [fits.get("study_file"), fits.get("paper_table", {}).get("path"), fits.get("planned_from", {}).get("plan")]
    return [sha256_file(p) if p and Path(p).is_file() else None for p in paths]


def _empty():
    from ..analysis.table import Table

    return Table.from_rows([])


def study_figure_problems(figure: Path, side: dict, text: str) -> list[str]:
    """The study figure drawn again from the recomputed fit, byte for byte, after the fit's own comparison."""
    from ..study.figure import draw

    fits, table, runs, recomputed, problems = study_fit(Path(side["inputs"]["fits.json"]["path"]))
    if recomputed is None:
        return problems
    redo = {**fits, "fits": recomputed, "input_runs": runs}
    return problems + _redraw(figure, side, text, lambda out, text: draw(side["figure"], redo, table, out, text))


def _redraw(figure: Path, side: dict, text: str, draw_to) -> list[str]:
    """Draw into a temporary folder with the provenance text the figure carries; compare every output."""
    main = figure.with_name(side["file"])
    with tempfile.TemporaryDirectory(prefix="plm-audit-") as tmp:
        out = Path(tmp) / main.name
        draw_to(out, text)
        twins = [s.removesuffix("_sha256") for s in side if s.endswith("_sha256")]
        problems = bytes_problems(main, out, "recompute: figure")
        for suffix in twins:
            problems += bytes_problems(
                main.with_suffix(f".{suffix}"), out.with_suffix(f".{suffix}"), "recompute: figure"
            )
        return problems


def paper_figure_problems(figure: Path, side: dict, text: str) -> list[str]:
    """A paper figure or Table 2 drawn again from the paper fits recomputed from the released CSVs."""
    from ..study.paper_stage import draw_output

    fits_path = Path(side["inputs"]["fits.json"]["path"])
    fits, table, recomputed, problems = _recompute_paper(fits_path, Path(side["paper_logs"]))
    if recomputed is None:
        return problems
    redo = {**recomputed, "provenance": fits["provenance"]}
    return problems + _redraw(
        figure, side, text, lambda out, text: draw_output(side["figure"], lambda: table, redo, out, text)
    )


def _recompute_paper(fits_path: Path, paper_logs: Path) -> tuple:
    """The paper stage again: the released CSVs ingested, the fits run with the recorded bootstrap and seed."""
    from ..analysis.fits import fit_all
    from ..analysis.logs import ingest

    fits = read_fits(fits_path, "paper")
    provenance = fits.get("provenance", {})
    derivation, inputs = provenance.get("derivation"), provenance.get("inputs", {})
    if derivation is None or "loss_table.csv" not in inputs:
        return fits, None, None, [f"recompute {fits_path.name}: no derivation settings recorded; rerun the paper fit"]
    table = ingest(paper_logs)
    text = _csv_text(table)
    problems = text_problems(Path(inputs["loss_table.csv"]["path"]), text, "recompute: loss table of the released CSVs")
    key = (sha256_file(fits_path), sha256_text(text))
    recomputed = _cached(
        key, lambda: as_json(fit_all(table, bootstrap=derivation["bootstrap"], seed=derivation["seed"]))
    )
    recorded = {k: v for k, v in fits.items() if k != "provenance"}
    problems += named(differences(recorded, recomputed, "fits"), f"recompute: {fits_path.name}")
    return fits, table, recomputed, problems
