"""The adaptive planner (analysis/adaptive.py) on hand-made profiles, and adaptive against fixed designs on synthetic
truth (analysis/design.py): each decision kind, the cap, the stops, and the one claim the design must keep."""

import json
import math

import numpy as np
import pytest

from plm_scaling.analysis import design, synthetic
from plm_scaling.analysis.adaptive import Run, Settings, plan, within_cap


def bowl(c: float, sizes, best: float, depth: float = 0.01, seed: int = 0) -> list[Run]:
    """One budget's runs on a parabola in log N with its minimum at `best`."""
    return [Run(c, float(n), seed, 3.0 + depth * math.log(n / best) ** 2) for n in sizes]


LAW = {"n_opt": {"coef": 3e3 / 1e11**0.5, "exponent": 0.5, "ci95": [0.2, 0.8]}}


def decisions(runs, fit=LAW, **settings) -> dict:
    return plan({"clm": (runs, fit)}, Settings(**settings), 1)


def test_an_edge_minimum_gets_two_sizes_beyond_that_edge():
    low = bowl(1e11, [2000, 4000, 8000], best=1000)  # falls towards small N: lowest loss at 2000
    high = bowl(3e11, [2000, 4000, 8000], best=20000)
    out = decisions(low + high, min_size=800)
    edges = {d["c"]: [r["n"] for r in d["runs"]] for d in out["decisions"] if d["kind"] == "edge"}
    assert edges == {1e11: [1000.0], 3e11: [16000.0, 32000.0]}  # 500 is below min_size, 800
    assert not [d for d in out["decisions"] if d["kind"] == "budget"]  # edges first: no new budget yet


def test_no_size_below_the_smallest_trainable_one():
    out = decisions(bowl(1e11, [900, 1800, 3600], best=300), min_size=800)
    assert not [d for d in out["decisions"] if d["kind"] == "edge"]
    assert any("edge of what can be trained" in n for n in out["notes"])
    assert [d["c"] for d in out["decisions"] if d["kind"] == "budget"] == [3e11]  # not 3e10: smaller sizes still
    one = plan({"clm": (bowl(1e11, [900, 1800, 3600], best=300), LAW)}, Settings(min_size=800, max_size=3600), 1)
    assert one["decisions"] == [] and one["stop"].startswith("nothing to add")  # no trainable size anywhere


def test_settled_budgets_get_one_new_budget_where_log_c_widens_most_per_flop():
    runs = [r for c, b in ((1e11, 3e3), (3e11, 5e3), (1e12, 1e4)) for r in bowl(c, [b / 1.4, b, b * 1.4], b)]
    new = [d for d in decisions(runs, min_size=100)["decisions"] if d["kind"] == "budget"]
    assert len(new) == 1 and new[0]["c"] == 3e10  # below: a tenth of the FLOPs of 3e12 for the same log step
    predicted = LAW["n_opt"]["coef"] * 3e10**0.5
    sizes = [r["n"] for r in new[0]["runs"]]
    assert len(sizes) == 5 and math.isclose(sizes[2], predicted, rel_tol=0.01)
    assert math.isclose(sizes[3] / sizes[2], 2.0, rel_tol=0.01)


def test_new_budgets_go_up_when_the_sizes_below_cannot_be_trained():
    runs = [r for c, b in ((1e11, 3e3), (3e11, 5e3), (1e12, 1e4)) for r in bowl(c, [b / 1.4, b, b * 1.4], b)]
    new = [d for d in decisions(runs, min_size=800)["decisions"] if d["kind"] == "budget"]
    assert [d["c"] for d in new] == [3e12]  # at 3e10 the smallest of 5 sizes ×2 would be ~410
    capped = decisions(runs, min_size=800, cap=sum(r.c for r in runs) + 1e13)  # 5 runs at 3e12 cost 1.5e13
    assert not [d for d in capped["decisions"] if d["kind"] == "budget"]
    assert "clm: no new budget fits the trainable sizes and the cap" in capped["notes"]


def test_sizes_around_a_minimum_are_refined_and_unclear_neighbours_get_seeds():
    coarse = bowl(1e11, [1000, 3000, 9000], best=3000)
    between = [d for d in decisions(coarse)["decisions"] if d["kind"] == "between"]
    assert [r["n"] for r in between[0]["runs"]] == [1730.0, 5200.0]
    flat = bowl(1e11, [2000, 2500, 3000], best=2500, depth=0.001)  # neighbours 5e-5 nats apart, noise 0.002
    seeds = [d for d in decisions(flat)["decisions"] if d["kind"] == "seeds"]
    assert sorted((r["n"], r["seed"]) for r in seeds[0]["runs"]) == [(2000, 1), (2500, 1), (3000, 1)]
    clear = bowl(1e11, [2000, 2500, 3000], best=2500, depth=1.0)
    assert not [d for d in decisions(clear)["decisions"] if d["kind"] == "seeds"]


def test_the_cap_keeps_edges_first_then_the_cheapest():
    runs = bowl(1e9, [2000, 4000, 8000], best=1000) + bowl(1e12, [1000, 3000, 9000], best=3000)
    spent = sum(r.c for r in runs)
    out = decisions(runs, cap=spent + 2.5e9, min_size=800)  # room for the 1e9 edge (500 is untrainable), not 1e12's
    assert [d["kind"] for d in out["decisions"]] == ["edge"]
    assert [d["kind"] for d in out["left_out"]] == ["between"]
    capped = decisions(runs, cap=spent + 0.5e9)
    assert capped["decisions"] == [] and capped["stop"].startswith("compute cap")


def test_a_cap_in_hours_charges_each_size_at_the_rate_its_runs_measured(tmp_path):
    """Study key adapt.cap_hours: the hours the runs took, and each planned run at the FLOP rate its size measured
    (interpolated in log N between sizes; ours differ ~20x): one mean rate let the adaptive study's round of small
    models at 3e11 overspend (its 424-parameter edge alone took 279 s)."""
    from plm_scaling.study.rounds import _with_rate, measured_rate

    runs = bowl(1e9, [2000, 4000, 8000], best=1000) + bowl(1e12, [1000, 3000, 9000], best=3000)
    slow, fast = (1000.0, 1e8), (9000.0, 1e10)  # FLOP/s: 1,000 parameters train 100x slower than 9,000
    hours = dict(rates=(slow, fast), spent_seconds=3600.0, min_size=800)
    edge_seconds = 1e9 / 1e8  # the 1e9 edge plans 1,000 (its size's rate); between at 1e12 plans 1,730 and 5,200
    out = decisions(runs, cap_hours=1 + (edge_seconds + 1) / 3600, **hours)
    assert [d["kind"] for d in out["decisions"]] == ["edge"] and [d["kind"] for d in out["left_out"]] == ["between"]
    assert out["decisions"][0]["hours"] == pytest.approx(edge_seconds / 3600) and out["spent_hours"] == 1.0
    (between,) = out["left_out"]
    rate = lambda n: 10 ** (8 + 2 * math.log(n / 1000) / math.log(9))  # noqa: E731 (log-log between the two)
    assert between["hours"] == pytest.approx((1e12 / rate(1730) + 1e12 / rate(5200)) / 3600)
    capped = decisions(runs, cap_hours=1 + (edge_seconds - 1) / 3600, **hours)
    assert capped["decisions"] == [] and "1 of 1.0025 training hours spent (measured)" in capped["stop"]
    one_rate = decisions(runs, cap_hours=1 + (edge_seconds - 1) / 3600, **{**hours, "rates": ((1000.0, 1e10),)})
    assert [d["kind"] for d in one_rate["decisions"]] == ["edge"]  # charged 0.1 s at the large models' rate
    for name, seconds in (("a", 10.0), ("b", 20.5), ("c", 4.0)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "timing.json").write_text(json.dumps({"total_seconds": seconds}))
    (tmp_path / "unfinished").mkdir()
    folders = [(1e9, 800.0, tmp_path / "a"), (3e9, 800.0, tmp_path / "b"), (4e9, 1600.0, tmp_path / "c")]
    measured = measured_rate([*folders, (1e12, 800.0, tmp_path / "unfinished")])
    assert measured["sizes"]["800"] == {"n": 800.0, "flops": 4e9, "seconds": 30.5} and measured["untimed"] == [
        [1e12, 800]
    ]
    assert len(measured["timing_files"]) == 3
    from plm_scaling.sweep_point import SweepPoint

    record = lambda c, n, d: {"sweep_point": SweepPoint("clm", n, 0, flops=c).id, "n": n, "run_dir": d}  # noqa: E731
    records = [{**record(c, n, d), "objective": "clm"} for c, n, d in [*folders, (1e12, 800.0, tmp_path / "x")]]
    planner, _ = _with_rate(Settings(cap_hours=1.0), records, ["clm"])
    assert planner.rate_at(800) == pytest.approx(4e9 / 30.5) and planner.rate_at(1600) == pytest.approx(1e9)
    assert planner.spent_seconds == pytest.approx(34.5 + 1e12 / (4e9 / 30.5))  # the untimed run at its size's rate
    with pytest.raises(ValueError, match="adapt.cap_hours: no run has a timing.json"):
        _with_rate(Settings(cap_hours=1.0), [], ["clm"])
    measured = Settings(cap_hours=1.0, rates=((800.0, 1e9), (1600.0, 2e9)))
    assert measured.rate_at(400) == pytest.approx(5e8) and measured.rate_at(3200) == pytest.approx(2e9)  # ends
    assert Settings(cap_hours=1.0, rates=((800.0, 2e9), (1600.0, 1e9))).rate_at(400) == pytest.approx(2e9)
    steep = Settings(cap_hours=1.0, rates=((800.0, 1e9), (1600.0, 4e9)))  # slope 2: noise; at most ∝ N below
    assert steep.rate_at(400) == pytest.approx(5e8) and steep.rate_at(1200) > 1e9
    with pytest.raises(ValueError, match="needs the FLOP rates of runs that trained"):
        Settings(cap_hours=1.0).charge(1e9, [800.0])


def test_a_planned_size_is_a_model_whose_size_asked_for_trains_it():
    """The planner asks for a run by the N it will train (model.target_params = N). 632 parameters (3 layers of
    width 4) are what a target of 600 trains, but a target of 632 trains 816: 632 is never planned."""
    from plm_scaling.study.rounds import model_sizes

    snap = model_sizes({"overrides": ["model.context=128"]})
    assert [snap(n) for n in (100, 216, 424, 600, 632, 816, 7056)] == [0.0, 216.0, 424.0, 0.0, 816.0, 816.0, 7056.0]


def test_the_study_stops_at_its_target_and_at_its_round_limit():
    runs = bowl(1e11, [2000, 4000, 8000], best=1000)
    narrow = {"n_opt": {**LAW["n_opt"], "ci95": [0.45, 0.55]}}
    at_target = decisions(runs, fit=narrow, target_width=0.2)
    assert at_target["decisions"] == [] and at_target["stop"].startswith("target reached")
    late = plan({"clm": (runs, LAW)}, Settings(max_rounds=2), 3)
    assert late["decisions"] == [] and late["stop"].startswith("round limit")
    assert decisions(runs)["stop"] is None


def test_within_cap_never_exceeds_it():
    from plm_scaling.analysis.adaptive import Decision

    ds = [Decision("clm", k, c, [(1.0, 0)] * 2, "") for k, c in (("seeds", 1.0), ("budget", 3.0), ("edge", 2.0))]
    kept, left = within_cap(ds, 0.0, Settings(cap=9.0))
    assert [d.kind for d in kept] == ["edge", "seeds"] and sum(d.cost for d in kept) <= 9.0
    assert [d.kind for d in left] == ["budget"]


def test_adaptive_rounds_recover_a_grid_centred_on_a_wrong_guess():
    """Grids centred on 3x the true optimum: the fixed grid loses every law to edge minima, the adaptive one loses
    no budget and recovers the exponent (benchmarks/adaptive_design.py measures it at scale)."""
    law = synthetic.calibrated_law(0.34, 0.28)
    settings = Settings(cap=5 * sum(synthetic.TWO_DECADES), target_width=0.0, max_rounds=6, min_size=100.0)
    rng = np.random.default_rng(0)
    fixed = [design.fixed(law, synthetic.TWO_DECADES, 5, 2.0, rng, 30, i, miss=3.0) for i in range(3)]
    adaptive = [design.adaptive(law, synthetic.OURS, settings, rng, 30, i, miss=3.0) for i in range(3)]
    assert all(o["edge_budgets"] > 0 and o["exponent"] is None for o in fixed)
    assert all(o["edge_budgets"] == 0 for o in adaptive)
    assert all(abs(o["exponent"] - synthetic.n_opt_exponent(law)) < 0.08 for o in adaptive)
    assert all(o["compute"] <= settings.cap for o in adaptive)


def test_sizes_close_enough_get_no_size_between():
    close = bowl(1e11, [2000, 2800, 3920], best=2800)  # x1.4 apart: finer than the resolution 1.5
    assert not [d for d in decisions(close)["decisions"] if d["kind"] == "between"]
    assert [d["kind"] for d in decisions(close, resolution=1.3)["decisions"]].count("between") == 1


def test_seeds_take_the_next_free_number_and_stop_at_max_seeds():
    flat = bowl(1e11, [2000, 2500, 3000], best=2500, depth=0.001)
    again = flat + bowl(1e11, [2500], best=2500, depth=0.001, seed=1)
    (seeds,) = [d for d in decisions(again)["decisions"] if d["kind"] == "seeds"]
    assert sorted((r["n"], r["seed"]) for r in seeds["runs"]) == [(2000, 1), (2500, 2), (3000, 1)]
    (capped,) = [d for d in decisions(again, max_seeds=2)["decisions"] if d["kind"] == "seeds"]
    assert sorted((r["n"], r["seed"]) for r in capped["runs"]) == [(2000, 1), (3000, 1)]


def test_an_edge_is_kept_before_cheaper_decisions():
    runs = bowl(1e9, [1000, 3000, 9000], best=3000) + bowl(1e10, [2000, 4000, 8000], best=20000)
    spent = sum(r.c for r in runs)
    out = decisions(runs, cap=spent + 2e10)  # the 1e10 edge (2e10) fills the room the 1e9 sizes between would use
    assert [d["kind"] for d in out["decisions"]] == ["edge"] and out["decisions"][0]["c"] == 1e10
    assert {d["kind"] for d in out["left_out"]} == {"between"}


def test_a_new_budget_is_never_one_already_tried_and_without_a_law_follows_the_best_sizes():
    runs = [r for c, b in ((1e11, 3e3), (3e11, 5e3), (1e12, 1e4)) for r in bowl(c, [b / 1.4, b, b * 1.4], b)]
    tried_below = runs + bowl(3e10, [1000, 2000, 4000], best=2000)  # a budget 3e10 the fit has no vertex for
    no_vertex = {"budgets": [{"c": c, "status": "ok", "n_opt": b} for c, b in ((1e11, 3e3), (3e11, 5e3), (1e12, 1e4))]}
    (new,) = [d for d in decisions(tried_below, fit=no_vertex, min_size=100)["decisions"] if d["kind"] == "budget"]
    assert new["c"] == 3e12  # 3e10 was tried: not planned again
    sizes = [r["n"] for r in new["runs"]]
    assert math.isclose(sizes[2], 1e4 * 3**0.5, rel_tol=0.01)  # no law: the nearest budget's optimum, exponent 0.5


def test_diverged_runs_and_objectives_without_runs_plan_nothing_from_them():
    runs = bowl(1e11, [2000, 4000, 8000], best=4000) + [Run(1e11, 16000.0, 0, float("nan"))]
    out = plan({"clm": (runs, LAW), "mlm": ([], {})}, Settings(), 1)
    between = [r["n"] for d in out["decisions"] if d["kind"] == "between" for r in d["runs"]]
    assert between == [2830.0, 5660.0]  # around the finite minimum at 4000; the NaN at 16000 is no edge
    assert "clm: 1 run(s) without a finite loss left out" in out["notes"]
    assert "mlm: no IsoFLOP runs to plan from" in out["notes"] and "mlm" not in out["objectives"]
    empty = plan({"clm": ([], {})}, Settings(), 1)
    assert empty["stop"].startswith("nothing to add") and "no IsoFLOP runs" in empty["stop"]


def test_planned_sizes_are_models_that_exist_and_are_not_tried_yet():
    """Our small models come ~2x apart (816, 1,616, 3,168, 6,304, ...): a size asked for is the model it trains, and
    one that lands on a size already tried is no new run."""
    ladder = [816.0, 1616.0, 3168.0, 6304.0, 12480.0]

    def snap(n):
        return min(ladder, key=lambda m: abs(math.log(m / n)))

    runs = bowl(1e11, [1616, 3168, 6304], best=500)
    out = plan({"clm": (runs, LAW)}, Settings(step=1.5), 1, snap)
    (edge,) = out["decisions"]
    assert [r["n"] for r in edge["runs"]] == [816.0]  # 1616/1.5 -> 1616 (tried), /1.5² -> 816, then none left
    wide = bowl(1e11, [816, 3168, 12480], best=3168)
    (between,) = [d for d in plan({"clm": (wide, LAW)}, Settings(), 1, snap)["decisions"] if d["kind"] == "between"]
    assert [r["n"] for r in between["runs"]] == [1616.0, 6304.0]


def test_an_edge_at_the_smallest_model_is_replaced_by_a_new_budget():
    """Measured on our CPU study: at 3e11 the smallest model (816) kept the lowest loss, and no round could go below
    it; the objective must not wait for that edge but add a budget that can give the law its third optimum."""
    runs = bowl(1e11, [1616, 3168, 6304], best=3168) + bowl(3e11, [816, 1616, 4816], best=400)
    runs += bowl(1e12, [3168, 7056, 12480], best=7056)
    out = decisions(runs, min_size=800)
    assert any("edge of what can be trained" in n for n in out["notes"])
    assert [d["kind"] for d in out["decisions"]].count("budget") == 1


def test_without_a_law_a_round_buys_edges_and_a_budget_not_refinements():
    """Measured on our CPU study: with no law yet, round 1 spent 2e12 of its cap on sizes between and seeds at the
    interior budgets, and the study ended without a law; before a law exists, edges and a new budget come first."""
    runs = bowl(1e11, [816, 3168, 9440], best=3168) + bowl(3e11, [1616, 4816, 14064], best=1000)
    runs += bowl(1e12, [2416, 7056, 24896], best=7056)
    out = decisions(runs, fit={}, min_size=100)
    assert sorted(d["kind"] for d in out["decisions"]) == ["budget", "edge"]
    with_law = decisions(runs, min_size=100)
    assert {"between"} <= {d["kind"] for d in with_law["decisions"]}


def test_a_study_may_limit_the_kinds_of_decision():
    """Study key adapt.decisions: the smoke study buys edges only (CI time); a round then makes no other kind."""
    runs = bowl(1e11, [816, 3168, 9440], best=3168) + bowl(3e11, [1616, 4816, 14064], best=1000)
    runs += bowl(1e12, [2416, 7056, 24896], best=7056)
    out = decisions(runs, fit={}, min_size=100, decisions=("edge",))
    assert [d["kind"] for d in out["decisions"]] == ["edge"]
    assert Settings.of({"decisions": ["edge", "seeds"], "cap": 1e12}).decisions == ("edge", "seeds")


def test_a_new_budget_below_finds_two_real_models_on_each_side_of_its_optimum():
    """Measured in the adaptive study's round 1 (2026-11-30): N_opt 1,128 at 3e10 predicts ~650 at 1e10, and ×2 steps
    from it snap to 216, 816, 816, 3,168: one model below, so no budget below was bought. 424 fills that side."""
    from plm_scaling.study.rounds import model_sizes

    runs = bowl(3e10, [424, 1616, 4816], 1128) + bowl(1e11, [816, 2416, 7056], 9000)
    runs += bowl(3e11, [1616, 4816, 14064], 1000)
    profiles = {"budgets": [{"c": 3e10, "n_opt": 1128.0, "status": "ok"}], "error": "1 budget(s) with a minimum"}
    snap = model_sizes({"overrides": ["model.context=128"]})
    out = plan({"clm": (runs, profiles)}, Settings(cap=2.215e12), 1, snap)
    (new,) = [d for d in out["decisions"] if d["kind"] == "budget"]
    assert new["c"] == 1e10 and [r["n"] for r in new["runs"]] == [216.0, 424.0, 816.0, 3168.0]


def test_an_edge_within_the_noise_of_its_neighbour_gets_seeds_where_no_size_beyond_exists():
    """Measured on our CPU study (one-decade grid): at 3e11 the smallest model, 816, kept the lowest loss by 0.0004
    nats over 1,616, a fifth of the seed noise, and the budget was lost. Seeds at both can move the minimum inside."""
    runs = [Run(3e11, 816.0, 0, 2.8656), Run(3e11, 1616.0, 0, 2.8660), Run(3e11, 4816.0, 0, 2.8750)]
    out = decisions(runs, min_size=800)
    (edge,) = out["decisions"]
    assert edge["kind"] == "edge_seeds" and sorted((r["n"], r["seed"]) for r in edge["runs"]) == [(816, 1), (1616, 1)]
    assert any("edge of what can be trained" in n for n in out["notes"])  # the note stays: no size beyond exists
    diverged = decisions([*runs, Run(3e11, 816.0, 1, math.nan)], min_size=800)  # seed 1 is taken, though lost
    assert sorted((r["n"], r["seed"]) for r in diverged["decisions"][0]["runs"]) == [(816, 2), (1616, 1)]
    seeded = runs + [Run(3e11, n, s, loss) for s in (1, 2) for n, loss in ((816.0, 2.8656), (1616.0, 2.8660))]
    out = decisions(seeded, min_size=800)  # max_seeds (3) each and still within 2 SE: the budget is lost
    assert [d["kind"] for d in out["decisions"]] == ["budget"]
    assert not decisions(runs, min_size=800, decisions=("edge",))["decisions"]  # a study that buys edges only
    beyond = decisions(runs, min_size=100)  # with trainable sizes below, `noisy_edge: sizes` extends the edge
    assert [r["n"] for r in beyond["decisions"][0]["runs"]] == [408.0, 204.0]
    first = decisions(runs, min_size=100, noisy_edge="seeds")
    assert [r["seed"] for r in first["decisions"][0]["runs"]] == [1, 1]
    apart = [Run(3e11, 816.0, 0, 2.8600), *runs[1:]]  # 0.006 nats: told apart, so sizes beyond even with `seeds`
    assert [r["n"] for r in decisions(apart, min_size=100, noisy_edge="seeds")["decisions"][0]["runs"]] == [408, 204]
    high = [Run(3e11, 4816.0, 0, 2.8656), Run(3e11, 2416.0, 0, 2.8660), Run(3e11, 816.0, 0, 2.8750)]
    (top,) = decisions(high, max_size=4816)["decisions"]  # the largest edge, no larger size allowed
    assert sorted((r["n"], r["seed"]) for r in top["runs"]) == [(2416, 1), (4816, 1)]
    losses = {816.0: 2.8600, 1616.0: 2.8605, 2416.0: 2.8590, 3168.0: 2.8620}  # lowest inside, at 2,416
    vertex_beyond = [Run(3e11, n, 0, loss) for n, loss in losses.items()]
    fit = {**LAW, "budgets": [{"c": 3e11, "status": "edge"}]}  # but the fit put the vertex below 816
    assert not [d for d in decisions(vertex_beyond, fit=fit, min_size=800)["decisions"] if d["kind"] == "edge_seeds"]
    assert Settings.of({"noisy_edge": "seeds"}).noisy_edge == "seeds"
    with pytest.raises(ValueError, match="adapt.noisy_edge: 'seed' is not sizes or seeds"):
        Settings(noisy_edge="seed")
