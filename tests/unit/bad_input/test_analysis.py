"""Bad input to the analysis commands (`fit logs`, `fit parametric`, `plan`): released logs with a bad row or outside
their layout, negative or non-finite numbers, law files that are not laws; one line each, exit 2. A law the points
cannot identify is printed with a warning, not refused."""

import pytest

from ...conftest import PAPER_LOGS, cli, run_cli
from . import one_line_error


def _released_layout(tmp_path, rows: str, where: str = "gpt_valid/approach3_flops/85M_flops") -> str:
    folder = tmp_path / "logs" / where
    folder.mkdir(parents=True)
    (folder / "run-gpt_85M-tag-lm-loss-validation_valid_lm loss validation vs gigaflos.csv").write_text(
        "Wall time,Step,Value\n" + rows
    )
    return str(tmp_path / "logs")


ANALYSIS_CASES = {
    "negative_loss": (
        lambda t: ["fit", "logs", _released_layout(t, "1,100,2.5\n2,200,-1.0\n")],
        r"line 3: loss -1 is not positive",
    ),
    "short_row": (
        lambda t: ["fit", "logs", _released_layout(t, "1,100,2.5\n2,200\n")],
        r"line 3: expected 3 columns \(wall time, step, value\), found 2",
    ),
    "csv_at_top_level": (
        lambda t: ["fit", "logs", _released_layout(t, "1,100,2.5\n", where=".")],
        r"a curve outside the released layout",
    ),
    "bootstrap_negative": (
        lambda t: ["fit", "logs", str(PAPER_LOGS), "--bootstrap", "-1"],
        r"argument --bootstrap: -1 is negative",
    ),
    "plan_flops_inf": (
        lambda t: ["plan", "--objective", "clm", "--flops", "inf"],
        r"flops must be a positive finite number, got inf",
    ),
    "plan_params_negative": (
        lambda t: ["plan", "--objective", "mlm", "--params", "-1"],
        r"params must be a positive finite number, got -1",
    ),
    "plan_law_without_laws": (
        lambda t: ["plan", "--objective", "clm", "--flops", "1e20", "--law", _write(t / "law.json", '{"clm": {}}')],
        r"law\.json: no clm n_opt law",
    ),
    "plan_law_not_json": (
        lambda t: ["plan", "--objective", "clm", "--flops", "1e20", "--law", _write(t / "law.json", "n_opt: 1")],
        r"law\.json: not a JSON file",
    ),
    "parametric_short_row": (
        lambda t: _parametric(_write(t / "p.csv", "N,D,L\n1e6,1e9\n")),
        r"p\.csv: line 2: column 'L' is None",
    ),
    "parametric_base_law_without_u_col": (
        lambda t: _parametric(_write(t / "p.csv", "N,D,L\n1e6,1e9,2\n"), "--base-law", _write(t / "b.json", "{}")),
        r"--base-law needs --u-col",
    ),
    "parametric_no_u_column": (
        lambda t: _parametric(_write(t / "p.csv", "N,D,L\n1e6,1e9,2\n"), "--u-col", "U"),
        r"p\.csv: no column 'U'",
    ),
    "parametric_base_law_negative_exponent": (
        lambda t: _parametric(
            _write(t / "p.csv", "N,D,U,L\n1e6,1e9,1e9,2\n"),
            *("--u-col", "U", "--base-law"),
            _write(t / "b.json", '{"law": {"E": 1, "A": 1, "B": 1, "alpha": -1, "beta": 1}}'),
        ),
        r"b\.json: key law\.alpha: -1 must be above 0",
    ),
    "plan_unique_tokens_without_law": (
        lambda t: ["plan", "--objective", "clm", "--flops", "1e20", "--unique-tokens", "1e9"],
        r"--unique-tokens needs --law FILE holding a data-constrained law",
    ),
    "plan_unique_tokens_without_data_constrained_law": (
        lambda t: [
            *("plan", "--objective", "clm", "--flops", "1e20", "--unique-tokens", "1e9", "--law"),
            _write(t / "law.json", '{"law": {"E": 1, "A": 1, "B": 1, "alpha": 0.3, "beta": 0.3}}'),
        ],
        r"law\.json: no data-constrained law .* for clm in this file",
    ),
    "parametric_p0": (
        lambda t: _parametric(_write(t / "p.csv", "N,D,L\n1e6,1e9,2\n"), "--method", "seed", "--p0", "1,2"),
        r"--p0: give 5 numbers E,A,B,alpha,beta",
    ),
}


def _parametric(csv_path: str, *extra: str) -> list[str]:
    """`plm-scaling fit parametric` on a CSV with columns N, D, L."""
    return ["fit", "parametric", csv_path, "--n-col", "N", "--d-col", "D", "--loss-col", "L", *extra]


def _write(path, text: str) -> str:
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("case", sorted(ANALYSIS_CASES))
def test_bad_analysis_input_is_one_line(case, tmp_path, capsys):
    args, pattern = ANALYSIS_CASES[case]
    one_line_error(cli(capsys, *args(tmp_path)), pattern)


def test_unidentifiable_law_is_printed_with_a_warning(tmp_path):
    rows = "N,D,L\n" + "1e6,1e9,2.5\n" * 6
    proc = run_cli(*_parametric(_write(tmp_path / "six.csv", rows), "--bootstrap", "10"))
    assert proc.returncode == 0
    assert "warning: the law is not identified (N takes 1 distinct value(s)" in proc.stderr
