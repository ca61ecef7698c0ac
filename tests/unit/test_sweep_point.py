"""SweepPoint: the one place a point id is written and read. Every axis survives id -> parse -> id, the sweep's own
ids parse to the fields the sweep set, and names that are not point ids are refused."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plm_scaling.study.sweeps import expand
from plm_scaling.sweep_point import OBJECTIVES, PRETRAINING, SweepPoint

ONE_DIGIT = st.builds(lambda m, e: float(f"{m}e{e}"), st.integers(1, 9), st.integers(3, 20))  # budgets as written
SIZE = st.floats(1, 1e12).map(lambda x: float(f"{x:g}"))
RATIO = st.floats(0.01, 0.99).map(lambda x: float(f"{x:g}"))
SHARE = st.integers(1, 99).map(lambda x: x / 100)


@st.composite
def points(draw):
    objective = draw(st.sampled_from(OBJECTIVES))
    budget = draw(st.sampled_from(["flops", "tokens"]))
    transfer = draw(st.sampled_from([None, PRETRAINING, *(o for o in OBJECTIVES if o != objective)]))
    return SweepPoint(
        objective,
        draw(SIZE),
        draw(st.none() | st.integers(0, 99)),
        mask_ratio=draw(st.none() | RATIO),
        variant=draw(st.none() | st.from_regex(r"[A-Za-z0-9-]{1,9}", fullmatch=True)),
        unique_tokens=draw(st.none() | ONE_DIGIT),
        transfer=transfer,
        share=None if transfer is None else draw(SHARE),
        **{budget: draw(ONE_DIGIT)},
    )


@given(points())
def test_every_axis_survives_the_round_trip(point):
    assert SweepPoint.parse(point.id) == point
    assert SweepPoint.parse(point.id).id == point.id
    assert SweepPoint.parse(point.seedless_id) == point.replace(seed=None)


def test_the_sweeps_ids_carry_the_fields_the_sweep_set():
    study = {"dataset": "d", "seeds": [0, 3], "overrides": [], "point_overrides": {}, "aux_corpus": "c"}
    grids = [
        {"objectives": ["mlm"], "sizes": [12000], "budgets": [1e9], "mask_ratios": [0.05]},
        {"objectives": ["clm"], "sizes": [1.2e4], "tokens": [8e6], "unique_tokens": [6e4]},
        {"objectives": ["clm"], "sizes": [1.2e4], "budgets": [3e11], "data_variants": [{"name": "code10"}]},
        {"objectives": ["mlm"], "sizes": [5000], "budgets": [1e10], "transfer_shares": [0.25]},
    ]
    ids = set(expand({**study, "sweeps": grids}))
    assert "mlm_N12000_C1e09_m0.05_s3" in ids and "clm_N12000_D8e06_U6e04_s0" in ids
    assert "clm_N12000_C3e11_vcode10_s0" in ids and "clm_N5000_C1e10_pre0.25_s3" in ids
    tuned = SweepPoint.parse("mlm_N5000_C1e10_clm0.25_s3")
    assert (tuned.objective, tuned.size, tuned.flops, tuned.seed, tuned.transfer, tuned.share) == (
        "mlm",
        5000.0,
        1e10,
        3,
        "clm",
        0.25,
    )
    assert tuned.id in ids and tuned.pretraining.id in ids
    assert SweepPoint.parse("clm_N12000_D8e06_U6e04_s0").fresh_twin.id == "clm_N12000_D8e06_s0"
    assert SweepPoint.parse("clm_N12000_C3e11_vcode10_s0").variant == "code10"
    assert SweepPoint.of({"sweep_point": "x", "point": tuned.fields()}) == tuned  # recorded fields win


@pytest.mark.parametrize(
    "name",
    [
        "myrun",
        "clm_N12000_s0",
        "gpt_N1_C1e10_s0",
        "clm_N12000_C1e10_s0/..",
        "clm_N12000_C1e10_x_s0",
        "clm_N1_C1e10_v.._s0",
    ],
)
def test_a_name_that_is_no_point_id_is_refused(name):
    with pytest.raises(ValueError, match="not a sweep point id"):
        SweepPoint.parse(name)


def test_a_point_needs_one_budget_and_a_whole_transfer_part():
    with pytest.raises(ValueError, match="exactly one budget"):
        SweepPoint("clm", 1000, 0)
    with pytest.raises(ValueError, match="kind and its share"):
        SweepPoint("clm", 1000, 0, flops=1e10, transfer=PRETRAINING)


@pytest.mark.parametrize("name, same", [("clm_N1e4_C1e12_s0", "clm_N10000_C1e12_s0"), ("clm_N5000_C1e12_s01", None)])
def test_one_point_has_one_id(name, same):
    """Another spelling of a point would train it twice, in two run folders: refused, naming the one form."""
    with pytest.raises(ValueError, match="in its one form" + (f".*{same}" if same else "")):
        SweepPoint.parse(name)


def test_a_run_cannot_start_from_its_own_objective():
    with pytest.raises(ValueError, match="its own objective"):
        SweepPoint("clm", 1000, 0, flops=1e10, transfer="clm", share=0.25)


def test_the_corpus_a_point_mixes_in_is_its_last_override():
    variant = {"name": "code10", "aux_fraction": 0.1}
    study = {"dataset": "d", "seeds": [0], "aux_corpus": "c", "overrides": [], "point_overrides": {}}
    grid = {"objectives": ["clm"], "sizes": [1000], "budgets": [1e10], "data_variants": [variant, {"name": "raw"}]}
    own = {"clm_N1000_C1e10_vraw_s0": ["data.aux.corpus=mine.u8", "data.aux.fraction=0.2"]}
    points = expand({**study, "sweeps": [grid], "point_overrides": own})
    assert points["clm_N1000_C1e10_vcode10_s0"].aux_corpus == "results/data/aux/c/corpus.u8"
    assert points["clm_N1000_C1e10_vraw_s0"].aux_corpus == "mine.u8"  # a point's own override: built, a trigger
