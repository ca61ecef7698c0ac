"""What a study makes beyond its runs (study/outputs.py): its figures, transfer fits, the paper stage."""

import pytest

from plm_scaling.names import STUDY_FIGURES
from plm_scaling.study.outputs import FIGURE_NEEDS, figures_of, filter_reference, is_transfer_study, runs_paper_stage

GRID = {"objectives": ["clm"], "sizes": [5000]}


def test_every_study_figure_names_what_it_needs():
    assert set(FIGURE_NEEDS) == set(STUDY_FIGURES)


@pytest.mark.parametrize(
    ("study", "figures"),
    [
        (None, []),
        ({**GRID, "tokens": [1e6]}, []),  # token budgets: no IsoFLOP profile
        ({**GRID, "budgets": [1e9]}, ["isoflop", "curves"]),
        ({**GRID, "budgets": [1e9], "extrapolate": {}}, ["isoflop", "curves", "extrapolation"]),
        (
            {
                "sweeps": [
                    {**GRID, "budgets": [1e9], "mask_ratios": [0.1]},
                    {**GRID, "tokens": [1e6], "unique_tokens": [1000]},
                    {**GRID, "budgets": [1e9], "data_variants": [{"name": "raw"}]},
                ]
            },
            ["isoflop", "mask_ratio", "curves", "ablation", "repeated"],
        ),
    ],
)
def test_a_study_draws_the_figures_its_axes_need(study, figures):
    assert figures_of(study) == figures


def test_a_transfer_study_is_one_with_a_transfer_grid():
    plain = {"sweeps": [{**GRID, "budgets": [1e9]}]}
    transfer = {"sweeps": [*plain["sweeps"], {**GRID, "budgets": [1e9], "transfer_shares": [0, 0.25]}]}
    assert not is_transfer_study(plain) and is_transfer_study(transfer) and not is_transfer_study(None)
    assert "transfer" in figures_of(transfer)


def test_the_paper_stage_runs_with_released_logs_for_no_study_or_one_that_asks():
    assert runs_paper_stage(None, "logs")
    assert runs_paper_stage({"paper_stage": True}, "logs")
    assert not runs_paper_stage({"paper_stage": False}, "logs")
    assert not runs_paper_stage({}, "logs")
    assert not runs_paper_stage({"paper_stage": True}, None)


def test_a_filter_names_its_scoring_run_by_folder_or_by_the_points_axes():
    assert filter_reference({"reference_run": "runs/x"}, "k") == "runs/x"
    point = {"study": "scarce", "objective": "clm", "size": 1.2e4, "flops": 3e11, "variant": "raw", "seed": 0}
    assert filter_reference({"reference_point": point}, "k") == "results/studies/scarce/runs/clm_N12000_C3e11_vraw_s0"
    with pytest.raises(ValueError, match=r"k\.reference_point\.study: '\.\./x' is not a safe name"):
        filter_reference({"reference_point": {**point, "study": "../x"}}, "k")
    with pytest.raises(ValueError, match=r"k\.reference_point: .*exactly one budget"):
        filter_reference({"reference_point": {**point, "tokens": 1e6}}, "k")
    with pytest.raises(ValueError, match=r"k\.reference_point: .*variant 'a/\.\./\.\./b' is not letters"):
        filter_reference({"reference_point": {**point, "variant": "a/../../b"}}, "k")
