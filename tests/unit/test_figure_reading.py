"""What a reader takes from the figures (issue 28 §4), checked on the drawn matplotlib figure without writing it:
one colour per model size across the curves panels, the whole-split end point apart from the windows' line, a
y-range that is the data's; the IsoFLOP × in its budget's colour with the reason the fit recorded; the repeated-data
title from what the curves show. Synthetic inputs, no files: well under a second."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba

from plm_scaling.analysis.released import REPEATED_DATA_PREFIX
from plm_scaling.analysis.table import COLUMNS, Table
from plm_scaling.plotting import isoflop as isoflop_module
from plm_scaling.plotting import study_figures
from plm_scaling.plotting.paper_figures import OVERFIT, REPEATED_DATA, repeated_title, rises
from plm_scaling.sweep_point import SweepPoint

SIZES = {1e11: (1000.0, 3000.0, 9000.0), 1e12: (3000.0, 9000.0, 27000.0)}  # 3,000 and 9,000 at both budgets
WHOLE = 0.01  # the whole split's loss below the last window's


def _point(n: float, c: float) -> str:
    return SweepPoint("clm", n, 0, flops=c).id


def _curves_table() -> Table:
    """Runs of two budgets sharing two sizes: 10 validations from 1% of the budget (the first far above the rest),
    the last row the whole-split loss, as collect writes it."""
    rows = []
    for c, sizes in SIZES.items():
        for n in sizes:
            point = _point(n, c)
            flops = c * np.array([0.01, *np.linspace(0.1, 1.0, 9)])
            loss = 2.85 + 0.02 * (n / 9000 - 1) ** 2 + 0.01 * (c / flops) ** 0.5
            loss[0] = 3.5  # early in training: off the scale
            loss[-1] -= WHOLE
            for k, (f, v) in enumerate(zip(flops, loss)):
                rows.append(
                    {
                        **dict.fromkeys(COLUMNS, ""),
                        "x_full": float("nan"),
                        **{"objective": "clm", "n": n, "run": point, "x_kind": "gigaflos", "x": f / 1e9, "loss": v},
                        **{"source": f"{point}/curve.csv", "row": k, "wall_time": 0.0},
                    }
                )
    return Table.from_rows(rows)


def _drawn(monkeypatch, module, draw) -> object:
    """The figure `draw()` makes, caught where the module would save it."""
    figures = []
    monkeypatch.setattr(module, "save", lambda fig, *args, **kwargs: figures.append(fig))
    draw()
    (figure,) = figures
    return figure


def test_curves_colour_each_size_alike_in_every_panel_and_draw_the_whole_split_apart(monkeypatch, tmp_path):
    table = _curves_table()
    fig = _drawn(monkeypatch, study_figures, lambda: study_figures.run_curves(table, tmp_path / "curves.png"))
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 2
    colours: dict[str, set] = {}
    for ax, (c, sizes) in zip(panels, SIZES.items()):
        lines = {line.get_label(): line for line in ax.lines if line.get_label().startswith("N = ")}
        assert sorted(lines) == sorted(f"N = {n:,.0f}" for n in sizes)
        ends = [line for line in ax.lines if line.get_label() == study_figures.WHOLE_SPLIT]
        for n in sizes:
            run = table.select(run=_point(n, c))
            line = lines[f"N = {n:,.0f}"]
            colours.setdefault(line.get_label(), set()).add(to_rgba(line.get_color()))
            # the windows' line stops before the last row: the whole split is not joined to it
            assert list(line.get_ydata()) == list(run["loss"][:-1])
            (end,) = [e for e in ends if e.get_ydata()[0] == run["loss"][-1]]
            assert end.get_marker() == "o" and end.get_linestyle() == "None" and end.get_markerfacecolor() == "white"
            assert to_rgba(end.get_markeredgecolor()) == to_rgba(line.get_color()) and len(end.get_xdata()) == 1
        # the y-range is the losses past the first few % of training, not the early 3.5
        late = np.concatenate([table.select(run=_point(n, c))["loss"][1:] for n in sizes])
        low, high = ax.get_ylim()
        assert low < late.min() and high < 3.0 and high - low < 2 * np.ptp(late)
    assert all(len(c) == 1 for c in colours.values()), colours  # a size's colour is the same in both panels
    assert len({next(iter(c)) for c in colours.values()}) == len(colours)  # and no two sizes share one
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()][-1] == study_figures.WHOLE_SPLIT


def _isoflop_fit() -> dict:
    """An IsoFLOP fit with one interior minimum and two budgets the fit rejected, for different reasons."""
    points, budgets = [], []
    for c, status, sizes in ((1e18, "ok", 5), (1e19, "too few sizes", 2), (1e20, "edge", 4)):
        n = np.geomspace(1e7, 1e9, sizes)
        loss = 2.5 - 0.1 * np.log10(c / 1e18) + 0.05 * (np.log10(n) - (8.0 if status == "ok" else 7.0)) ** 2
        points += [{"c": c, "n": float(x), "loss": float(v), "source": f"r{c:.0e}{x:.0e}"} for x, v in zip(n, loss)]
        ok = status == "ok"
        budgets.append({"c": c, "status": status, "sizes": sizes, "n_opt": 1e8 if ok else np.nan, "loss": 2.5})
    dropped = [{"c": 5e18, "sizes": 1, "min_sizes": 3, "rel_tol": 0.1, "reason": "only 1 size(s)"}]
    return {"budgets": budgets, "points": points, "dropped": dropped, "error": "2 budget(s) rejected"}


def test_isoflop_marks_a_rejected_budget_in_its_colour_with_the_recorded_reason(monkeypatch, tmp_path):
    res = _isoflop_fit()
    fig = _drawn(monkeypatch, isoflop_module, lambda: isoflop_module.isoflop({"clm": res}, tmp_path / "i.png"))
    profiles, key = fig.axes[0], fig.axes[1]
    colours, _ = isoflop_module.budget_colours([1e18, 1e19, 1e20])
    crosses = {line.get_label(): line for line in profiles.lines if line.get_marker() == "x"}
    rejected = [b for b in res["budgets"] if b["status"] != "ok"]
    assert sorted(crosses) == sorted(isoflop_module.rejected_label(b) for b in rejected)
    for b in rejected:
        cross = crosses[isoflop_module.rejected_label(b)]
        assert to_rgba(cross.get_color()) == to_rgba(colours[b["c"]]) != to_rgba("red")
    assert "too few sizes (2 sizes)" in isoflop_module.rejected_label(rejected[0])  # not "edge minimum"
    assert "edge" in isoflop_module.rejected_label(rejected[1])
    legend = key.get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert all(isoflop_module.rejected_label(b) in labels for b in rejected)
    assert not legend.findobj(LineCollection)  # one seed: no error-bar symbol (its bars: a LineCollection)
    assert "mean ±1 sd" not in " ".join(labels)
    (note,) = [t for t in key.texts if "Budgets not profiled" in t.get_text()]
    assert note.get_fontsize() >= 8 and max(to_rgba(note.get_color())[:3]) < 0.2  # readable: normal size, dark
    assert len(set(colours.values())) == 3


def test_isoflop_rings_the_points_each_adaptive_round_added(monkeypatch, tmp_path):
    """Issue 27: the figure says which runs the grid had and which each round added (fits.json rounds -> the
    run folders their points came from), in the budget's colour, one legend entry per round."""
    res = _isoflop_fit()
    for p in res["points"]:
        p["source"] = f"runs/{p['source']}/curve.csv"
    first, second = res["points"][0], res["points"][6]
    seed = {**first, "loss": first["loss"] + 0.02, "source": "runs/seed1/curve.csv"}  # a seed round 3 added
    res["points"].append(seed)
    rounds = {first["source"].split("/")[1]: 1, second["source"].split("/")[1]: 2, "seed1": 3}
    draw = lambda: isoflop_module.isoflop({"clm": res}, tmp_path / "i.png", rounds=rounds)  # noqa: E731
    fig = _drawn(monkeypatch, isoflop_module, draw)
    profiles, key = fig.axes[0], fig.axes[1]
    ringed = [line for line in profiles.lines if line.get_marker() in isoflop_module.ROUND_MARKERS]
    marks = [(line.get_xdata()[0], line.get_marker()) for line in ringed]
    assert marks == [(first["n"], "s"), (second["n"], "D"), (first["n"], "^")]
    assert ringed[0].get_ydata()[0] == ringed[2].get_ydata()[0] == pytest.approx(first["loss"] + 0.01)  # seed mean
    colours, _ = isoflop_module.budget_colours([1e18, 1e19, 1e20])
    assert to_rgba(ringed[1].get_color()) == to_rgba(colours[second["c"]]) and ringed[0].get_markerfacecolor() == "none"
    labels = [t.get_text() for t in key.get_legend().get_texts()]
    assert {f"added by adaptive round {k}" for k in (1, 2, 3)} <= set(labels)
    plain = _drawn(monkeypatch, isoflop_module, lambda: isoflop_module.isoflop({"clm": res}, tmp_path / "j.png"))
    assert not [line for line in plain.axes[0].lines if line.get_marker() in isoflop_module.ROUND_MARKERS]


def test_isoflop_draws_an_objective_whose_every_budget_was_dropped(tmp_path):
    """The smoke study's MLM: no points, every budget dropped for too few sizes; the figure is drawn, with the note."""
    dropped = [{"c": c, "sizes": 2, "min_sizes": 3, "rel_tol": 0.1, "reason": "only 2 size(s)"} for c in (1e9, 1e10)]
    empty = {"budgets": [], "points": [], "dropped": dropped, "error": "0 budget(s) with an interior minimum"}
    isoflop_module.isoflop({"clm": _isoflop_fit(), "mlm": empty}, tmp_path / "i.png")
    assert (tmp_path / "i.png").stat().st_size > 0


def test_budget_colours_are_distinct_and_ordered_for_many_budgets():
    budgets = [1e18, 3e18, 6e18, 1e19, 3e19, 8e19, 1e20, 2e20, 3e20, 8e20, 1e21]
    colours, cmap = isoflop_module.budget_colours(budgets)
    rgb = np.array([to_rgba(colours[c])[:3] for c in budgets])
    gaps = np.linalg.norm(rgb[:, None] - rgb[None, :], axis=-1)[~np.eye(len(budgets), dtype=bool)]
    assert gaps.min() > 0.05 and cmap.N == len(budgets)  # no two budgets in (nearly) one colour
    luminance = rgb @ [0.2126, 0.7152, 0.0722]
    assert np.all(np.diff(luminance) > 0)  # sequential: lighter with compute, no light/dark pairs of one hue


def _curve(rise: float) -> dict:
    """A loss that falls over two thirds of training and then, by `rise` over the last third, turns up."""
    x = np.linspace(0, 1, 300)
    return {"loss": 2.5 - 0.3 * np.minimum(x, 2 / 3) + 3 * rise * np.clip(x - 2 / 3, 0, None)}


@pytest.mark.parametrize(
    ("rising", "says"),
    [({"MLM 3B"}, "turns up (overfits) in MLM 3B only"), (set(), "keeps falling in every panel")],
)
def test_the_repeated_data_title_says_which_panels_rise(rising, says):
    panels = {
        (o, size): {REPEATED_DATA: _curve(0.1 if f"{o.upper()} {size}" in rising else 0.0), "once": _curve(0.0)}
        for o, size in (("clm", "150M"), ("mlm", "150M"), ("mlm", "3B"))
    }
    assert rises(_curve(0.1)["loss"]) and not rises(_curve(OVERFIT / 2)["loss"])
    title = repeated_title(panels)
    assert says in title and "overfits;" not in title and "CLM 150M" not in title


def test_the_repeated_data_figure_is_titled_by_its_curves(monkeypatch, tmp_path):
    from plm_scaling.plotting import paper_figures

    rows = []
    for folder, objective, rise in (("ur50_mlm_3b", "mlm", 0.1), ("all1ep_mlm_3b", "mlm", 0.0)):
        source = f"{REPEATED_DATA_PREFIX}{folder}/run.csv"
        for k, v in enumerate(_curve(rise)["loss"]):
            base = {
                **dict.fromkeys(COLUMNS, ""),
                "x_full": float("nan"),
                "objective": objective,
                "x_kind": "tokens",
                "x": 1e9 * (k + 1),
            }
            rows.append({**base, "loss": v, "source": source, "group": source, "metric": "valid_loss", "row": k})
    table = Table.from_rows([{**r, "n": np.nan, "wall_time": 0.0} for r in rows])
    fig = _drawn(monkeypatch, paper_figures, lambda: paper_figures.repeated_data(table, tmp_path / "r.png"))
    assert fig.get_suptitle() == repeated_title(paper_figures._repeated_panels(table))
    assert "MLM 3B only" in fig.get_suptitle() and fig.axes[0].get_title() == "MLM 3B (repeated: rises)"
