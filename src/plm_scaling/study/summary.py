"""The report's landing page: the headline exponents with their intervals, the study's fits table and Table 2 as
tables, and what to look at next, as reStructuredText (Snakemake renders it as the report's first page).

It only reads what the fit and the paper stage wrote (fits.json, fits_table.csv, table2.csv): every number on it is
one of theirs, rounded for reading.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ..analysis.flop_count import FLOP_UNIT, law_labels
from ..io import read_json

LAWS = (("n_opt", "N_opt ∝ C^a"), ("d_opt", "D_opt ∝ C^b"), ("loss", "L ∝ C^c"), ("n_opt_other", "N_opt, other count"))


def _cell(text: str) -> str:
    """A table cell as literal text: RST's inline markup characters escaped (a note such as `x_` or *y* stays)."""
    for ch in "\\`*|":
        text = text.replace(ch, "\\" + ch)
    return re.sub(r"(?<=\w)_(?!\w)", r"\\_", " ".join(text.split()))


def _table(header: list[str], rows: list[list[str]], title: str = "") -> list[str]:
    """An RST list-table (every cell on one line; empty cells stay empty)."""
    lines = [f".. list-table:: {title}".rstrip(), "   :header-rows: 1", ""]
    for row in [header, *rows]:
        cells = [_cell(str(c)) for c in row]
        lines += [f"   * - {cells[0]}".rstrip()] + [f"     - {cell}".rstrip() for cell in cells[1:]]
    return lines + [""]


def _exponent(law: dict | None, label: str = "") -> str:
    if not law:
        return "no law"
    ci = law.get("ci95")
    interval = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else " (no interval)"
    return f"{law['exponent']:.3f}{interval}" + (f" ({label})" if label else "")


def _headline_rows(fits: dict) -> list[list[str]]:
    rows = []
    for objective, sections in fits.items():
        iso = sections.get("isoflop") or {}
        if "n_opt" not in iso:
            reason = iso.get("error") or "no IsoFLOP law (see the fits table)"
            rows.append([objective.upper(), reason, "", "", "", "", ""])
            continue
        n_law = iso["n_opt"]
        kept = len(n_law.get("samples") or [])
        resamples = f"{kept} of {iso['bootstrap']}" if iso.get("bootstrap") else "none"
        other = {"paper": "re-counted as 6·N·D", "full": "re-counted in full"}.get(iso.get("other_compute"), "")
        cells = [_exponent(iso.get(key), other if key == "n_opt_other" else "") for key, _ in LAWS]
        rows.append([objective.upper(), *cells, f"{iso['n_budgets']} budgets, {iso['n_runs']} runs", resamples])
    return rows


def _budget_rows(fits: dict) -> tuple[list[str], list[list[str]]]:
    """One row per budget: each objective's IsoFLOP optimum (N_opt, D_opt, loss there) or why it has none."""
    objectives = [o for o, sections in fits.items() if (sections.get("isoflop") or {}).get("budgets")]
    by_budget: dict[float, dict] = {}
    for o in objectives:
        for b in fits[o]["isoflop"]["budgets"]:
            by_budget.setdefault(b["c"], {})[o] = b
    compute = next((fits[o]["isoflop"].get("compute") for o in objectives), None) or "paper"
    header = [f"C ({FLOP_UNIT[compute]})", *(f"{o.upper()} N_opt · D_opt · loss" for o in objectives)]
    rows = []
    for c, at in sorted(by_budget.items()):
        cells = []
        for o in objectives:
            b = at.get(o)
            ok = b and b.get("n_opt") is not None and b.get("status", "ok") == "ok"
            cells.append(
                f"{b['n_opt']:.3g} · {b['d_opt']:.3g} · {b['loss']:.4f}" if ok else (b or {}).get("status", "")
            )
        rows.append([f"{c:.3g}", *cells])
    return header, rows


def _csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        header, *rows = list(csv.reader(fh))
    return header, rows


def study_section(name: str, fits_path: Path) -> list[str]:
    fits = read_json(fits_path).get("fits", {})
    title = f"Study ``{name}``: compute-optimal size, data and loss against compute"
    lines = [title, "-" * len(title), ""]
    iso = next((s["isoflop"] for s in fits.values() if "isoflop" in s), {})
    labels = {**dict(LAWS), **{k: v for k, v in law_labels(iso).items() if k != "n_opt_other"}}  # C or C_full
    header = ["objective", *(labels[key] for key, _ in LAWS), "fitted on", "bootstrap resamples that gave a law"]
    lines += _table(header, _headline_rows(fits), "exponents [95 % bootstrap interval]")
    if all((s.get("noise") or {}).get("pooled_sd") is None for s in fits.values()):
        lines += ["One seed per point: these intervals hold the fit's uncertainty, not the seed noise.", ""]
    header, rows = _budget_rows(fits)
    return lines + (_table(header, rows, "the optimum of each budget (parabola vertex)") if rows else [])


def paper_section(table2: Path) -> list[str]:
    """Table 2 with one row per method and one column per objective and quantity, the paper's values first."""
    title = "The authors' released logs: Table 2 refitted"
    header, rows = _csv_rows(table2)
    col = {name: i for i, name in enumerate(header)}
    keys = sorted({(r[col["objective"]], r[col["quantity"]]) for r in rows}, key=lambda k: (k[0], k[1] != "n"))
    methods: dict[str, dict] = {"paper": {}}
    for r in rows:
        key = (r[col["objective"]], r[col["quantity"]])
        methods["paper"][key] = r[col["paper"]]
        ci = f" {r[col['ci95']]}" if r[col["ci95"]] else ""
        methods.setdefault(r[col["method"]], {})[key] = r[col["exponent"]] + ci
    out_header = ["method", *(f"{o} {'N_opt' if q == 'n' else 'D_opt'}" for o, q in keys)]
    out_rows = [[m, *(cells.get(k, "") for k in keys)] for m, cells in methods.items()]
    return [title, "-" * len(title), "", *_table(out_header, out_rows, f"exponents of C ({table2.name})")]


NEXT = """What to look at next
--------------------

- **Study** (left): ``isoflop.png`` (loss against size per budget, the optima and the laws), ``curves.png`` (every
  run's validation loss against compute) and ``fits_table.csv`` (every fitted number, downloadable).
- **Paper reproduction**: the paper's figures redrawn from the released logs, and Table 2.
- ``plm-scaling audit FIGURE`` re-derives a figure from its runs and checks every link back to the FASTA.
- ``make mlflow-ui`` opens the runs behind every number (it prints the runs table's address).
"""


def write_summary(out: Path, study: str | None, fits: Path | None, table2: Path | None) -> None:
    """The landing page from what exists: the study's section when it has a fit, the paper's when Table 2 exists."""
    title = "Compute-optimal protein language models: results"
    lines = ["=" * len(title), title, "=" * len(title), ""]
    if study and fits is not None:
        lines += study_section(study, fits)
    if table2 is not None:
        lines += paper_section(table2)
    if len(lines) == 4:
        lines += ["No study and no paper stage ran: there are no results to show.", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    # Snakemake renders the page through Jinja first: the raw block keeps any brace in a cell as it is
    tmp.write_text("{% raw %}\n" + "\n".join(lines + [NEXT]) + "\n{% endraw %}\n", encoding="utf-8")
    tmp.replace(out)
