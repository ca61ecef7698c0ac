"""The report's landing page (`study summary`): the fit's headline numbers as tables, valid reStructuredText that
Snakemake's Jinja pass leaves as it is."""

import json

import pytest
from docutils.core import publish_parts
from jinja2 import Environment

from ..conftest import cli, fixture_fits

TABLE2 = """objective,quantity,method,exponent,ci95,paper
CLM,n,notebook,0.557,,0.578
CLM,d,interp,0.403,"[0.305, 0.468]",0.422
MLM,n,parametric (Epoch) {{ x }} *bold* `tick`,0.380,,0.776
"""


@pytest.fixture
def page(tmp_path, capsys):
    fits = fixture_fits("study")
    fits["fits"]["mlm"]["isoflop"]["budgets"][0]["status"] = "edge minimum"
    (tmp_path / "fits.json").write_text(json.dumps(fits))
    (tmp_path / "table2.csv").write_text(TABLE2)
    out = tmp_path / "page.rst"
    args = ["--study", "default", "--fits", tmp_path / "fits.json", "--table2", tmp_path / "table2.csv"]
    assert cli(capsys, "study", "summary", out, *args).returncode == 0
    return fits, out.read_text()


def _html(text: str) -> str:
    """As Snakemake renders it: Jinja first, then docutils (here made to fail on any warning)."""
    rst = Environment().from_string(text).render()
    return publish_parts(rst, writer="html", settings_overrides={"halt_level": 2})["html_body"]


def test_the_page_shows_the_fits_numbers_and_renders_cleanly(page):
    fits, text = page
    clm = fits["fits"]["clm"]["isoflop"]
    lo, hi = clm["n_opt"]["ci95"]
    html = _html(text)
    assert f"{clm['n_opt']['exponent']:.3f} [{lo:.3f}, {hi:.3f}]" in html
    assert f"{len(clm['n_opt']['samples'])} of {clm['bootstrap']}" in html  # resamples that gave a law, counted
    b = clm["budgets"][0]
    assert f"{b['n_opt']:.3g} · {b['d_opt']:.3g} · {b['loss']:.4f}" in html
    assert "edge minimum" in html  # a budget without an optimum says why instead of a number
    assert "One seed per point" in html  # the fixture's study has no seed noise


def test_table2_is_one_row_per_method_and_user_text_stays_literal(page):
    html = _html(page[1])
    assert "0.403 [0.305, 0.468]" in html and "0.578" in html
    # braces, stars and backticks of a cell reach the reader as written: neither Jinja nor RST markup
    assert "{{ x }} *bold* `tick`" in html
