"""Table 2 of the paper: IsoFLOP exponents by every method beside the paper's, and the parametric laws' constants
with whether each is identified. CSV and Markdown."""

from __future__ import annotations

from pathlib import Path

from ..analysis.parametric import identified
from ..analysis.released import PAPER_EXPONENTS
from ..io import atomic_outputs
from ..plotting.style import OBJ_NAME


def table2(fits: dict, out_csv: str | Path, provenance: str | None = None) -> None:
    """Table 2: our exponents (both methods), their intervals, and the paper's values; CSV and Markdown."""
    rows = []
    for method, section in (("notebook", "notebook"), ("interp", "isoflop")):  # method as README names it
        for objective in ("clm", "mlm"):
            for key in ("n_opt", "d_opt"):
                law = fits[section][objective][key]
                ci = law.get("ci95") or [None, None]
                rows.append(
                    [
                        OBJ_NAME[objective],
                        key.replace("_opt", ""),
                        method,
                        f"{law['exponent']:.3f}",
                        "" if ci[0] is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]",
                        f"{PAPER_EXPONENTS[objective][key]:.3f}",
                    ]
                )
    variants = _parametric_variants(fits)
    for objective in ("clm", "mlm"):  # the parametric laws' implied exponents: b/(a+b) for N, a/(a+b) for D
        for name, law in variants[objective].items():
            if "error" in law:
                continue
            a, b = law["alpha"], law["beta"]
            flag = "" if identified(law) else " (poorly identified)"
            for key, value in (("n", b / (a + b)), ("d", a / (a + b))):
                rows.append(
                    [
                        OBJ_NAME[objective],
                        key,
                        f"{name}{flag}",
                        f"{value:.3f}",
                        "",
                        f"{PAPER_EXPONENTS[objective][key + '_opt']:.3f}",
                    ]
                )
    header = ["objective", "quantity", "method", "exponent", "ci95", "paper"]
    csv_path = Path(out_csv)
    md_path = csv_path.with_suffix(".md")
    with atomic_outputs(csv_path, md_path) as (tmp_csv, tmp_md):
        tmp_csv.write_text("\n".join(",".join(f'"{v}"' if "," in v else v for v in r) for r in [header, *rows]) + "\n")
        note = [] if provenance is None else ["", f"<!-- Provenance: {provenance} -->"]
        tmp_md.write_text("\n".join([*_md_table(header, rows), "", *_parametric_md(variants), *note]) + "\n")


def _parametric_variants(fits: dict) -> dict:
    """Both parametric methods on both inputs, per objective (older fits.json files hold only the first)."""
    return {
        o: {
            "parametric (Epoch, final points)": fits["parametric"][o],
            **(
                {"parametric (Epoch, whole curves)": fits["parametric_curves"][o]}
                if "parametric_curves" in fits
                else {}
            ),
            **(
                {
                    f"parametric (seed, {k.replace('final', 'final points').replace('curves', 'whole curves')})": v
                    for k, v in fits.get("parametric_seed", {}).get(o, {}).items()
                }
            ),
        }
        for o in ("clm", "mlm")
    }


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def _parametric_md(variants: dict) -> list[str]:
    """The constants of every parametric fit, and whether each is identified. The paper's appendix constants are
    not reproduced here: no source reachable by this project holds them."""
    rows = []
    for objective, laws in variants.items():
        for name, law in laws.items():
            if "error" in law:
                rows.append([OBJ_NAME[objective], name, *[""] * 5, "", law["error"]])
                continue
            rows.append(
                [
                    OBJ_NAME[objective],
                    name,
                    *(f"{law[k]:.4g}" for k in ("E", "A", "B", "alpha", "beta")),
                    str(law["n_points"]),
                    "yes" if identified(law) else "no",
                ]
            )
    header = ["objective", "method", "E", "A", "B", "alpha", "beta", "points", "identified"]
    return ["L(N, D) = E + A/N^alpha + B/D^beta:", "", *_md_table(header, rows)]
