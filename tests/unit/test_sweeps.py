"""Expansion of a study into sweep points: one grid, or the union of several (`sweeps`)."""

import pytest

from plm_scaling.config_schema import ConfigError
from plm_scaling.study.sweeps import sweep_points

BASE = {"dataset": "d", "seeds": [0, 1], "overrides": ["model.context=32"], "point_overrides": {}}


def test_one_grid_is_the_full_product_with_overrides_in_order():
    points = sweep_points(
        {
            **BASE,
            "objectives": ["clm", "mlm"],
            "sizes": [5000, 1.2e4],
            "budgets": [1e9, 3e9],
            "point_overrides": {"mlm_N12000_C3e09_s1": ["optim.lr=0.01"]},
        }
    )
    assert len(points) == 2 * 2 * 2 * 2
    assert points["clm_N5000_C1e09_s0"] == [
        "objective=clm",
        "model.target_params=5000.0",
        "budget.flops=1000000000.0",
        "seed=0",
        "run.id=clm_N5000_C1e09_s0",
        "model.context=32",
    ]
    assert points["mlm_N12000_C3e09_s1"][-2:] == ["model.context=32", "optim.lr=0.01"]


def test_sweeps_are_a_union_with_sizes_per_budget():
    points = sweep_points(
        {
            **BASE,
            "seeds": [0],
            "sweeps": [
                {"objectives": ["clm"], "budgets": [1e9], "sizes": [800, 2500]},
                {"objectives": ["clm", "mlm"], "budgets": [1e10], "sizes": [2500, 1e4]},
            ],
        }
    )
    assert sorted(points) == sorted(
        [
            "clm_N800_C1e09_s0",
            "clm_N2500_C1e09_s0",
            "clm_N2500_C1e10_s0",
            "clm_N10000_C1e10_s0",
            "mlm_N2500_C1e10_s0",
            "mlm_N10000_C1e10_s0",
        ]
    )


@pytest.mark.parametrize(
    "study, message",
    [
        ({"objectives": ["clm"], "sizes": [1], "budgets": [1], "sweeps": []}, "config key sweeps: give either"),
        ({"objectives": ["clm"], "budgets": [1]}, "config key sizes: missing (or give sweeps)"),
        (
            {"objectives": ["clm"], "sizes": [5000], "budgets": [1e9], "point_overrides": {"clm_N1_C1e09_s0": []}},
            "config key point_overrides: unknown sweep points ['clm_N1_C1e09_s0']",
        ),
    ],
)
def test_bad_grids_name_the_key(study, message):
    with pytest.raises(ConfigError) as err:
        sweep_points({**BASE, **study}, where="s.yaml: ")
    assert str(err.value).startswith("s.yaml: ") and message in str(err.value)


def test_mask_ratios_are_an_mlm_axis_of_their_own():
    points = sweep_points(
        {
            **BASE,
            "seeds": [0],
            "sweeps": [
                {"objectives": ["mlm"], "budgets": [1e9], "sizes": [5000], "mask_ratios": [0.05, 0.3]},
                {"objectives": ["mlm"], "budgets": [1e9], "sizes": [5000]},
            ],
        }
    )
    assert sorted(points) == ["mlm_N5000_C1e09_m0.05_s0", "mlm_N5000_C1e09_m0.3_s0", "mlm_N5000_C1e09_s0"]
    assert "objective.mask_ratio=0.05" in points["mlm_N5000_C1e09_m0.05_s0"]
    assert not any("mask_ratio" in o for o in points["mlm_N5000_C1e09_s0"])
    with pytest.raises(ConfigError, match="config key mask_ratios: only for grids whose objectives are"):
        sweep_points({**BASE, "objectives": ["clm", "mlm"], "sizes": [1], "budgets": [1], "mask_ratios": [0.1]})


def test_data_variants_are_an_axis_with_their_dataset_and_code_share():
    from plm_scaling.study.sweeps import point_datasets

    study = {
        "dataset": "scarce",
        "aux_corpus": "python_stdlib",
        "objectives": ["clm"],
        "sizes": [1.2e4],
        "budgets": [3e11],
        "data_variants": [
            {"name": "raw"},
            {"name": "dedup", "dataset": "scarce_dedup"},
            {"name": "code10", "aux_fraction": 0.1},
        ],
        "seeds": [0],
        "overrides": [],
        "point_overrides": {},
    }
    points = sweep_points(study)
    assert list(points) == ["clm_N12000_C3e11_vraw_s0", "clm_N12000_C3e11_vdedup_s0", "clm_N12000_C3e11_vcode10_s0"]
    assert point_datasets(study) == dict(zip(points, ["scarce", "scarce_dedup", "scarce"]))
    code = points["clm_N12000_C3e11_vcode10_s0"]
    assert "data.aux.corpus=results/data/aux/python_stdlib/corpus.u8" in code and "data.aux.fraction=0.1" in code
    assert not any(o.startswith("data.aux") for o in points["clm_N12000_C3e11_vraw_s0"])


def test_token_budgets_unique_subsets_and_grid_seeds():
    from plm_scaling.study.sweeps import expand

    grid = {"objectives": ["clm"], "sizes": [3000], "tokens": [8e6], "unique_tokens": [3e4, 2e5]}
    points = expand({**BASE, "sweeps": [grid, {**grid, "unique_tokens": [3e4], "seeds": [5]}]})
    assert sorted(points) == ["clm_N3000_D8e06_U2e05_s0", "clm_N3000_D8e06_U2e05_s1"] + [
        f"clm_N3000_D8e06_U3e04_s{s}" for s in (0, 1, 5)
    ]
    p = points["clm_N3000_D8e06_U3e04_s5"]
    assert p.unique_tokens == 30000 and p.dataset == "d"
    assert "budget.flops=null" in p.overrides and "budget.tokens=8000000.0" in p.overrides


def test_a_grid_needs_exactly_one_kind_of_budget():
    grid = {"objectives": ["clm"], "sizes": [3000]}
    for bad in (grid, {**grid, "budgets": [1e10], "tokens": [1e6]}):
        with pytest.raises(
            ConfigError, match=r"config key sweeps\[0\]: give exactly one of budgets \(FLOPs\) or tokens"
        ):
            sweep_points({**BASE, "sweeps": [bad]})


def test_a_study_counting_compute_in_full_meets_its_flop_budgets_in_full():
    grid = {"objectives": ["clm"], "sizes": [3000], "budgets": [1e10]}
    paper = sweep_points({**BASE, **grid})["clm_N3000_C1e10_s0"]
    full = sweep_points({**BASE, **grid, "compute": "full"})["clm_N3000_C1e10_s0"]
    assert not any(o.startswith("budget.count") for o in paper)  # the paper count: runs as before
    assert full == [*paper[:3], "budget.count=full", *paper[3:]]
    tokens = sweep_points({**BASE, "compute": "full", "objectives": ["clm"], "sizes": [3000], "tokens": [1e6]})
    assert not any(o.startswith("budget.count") for o in tokens["clm_N3000_D1e06_s0"])  # D given: nothing to count
