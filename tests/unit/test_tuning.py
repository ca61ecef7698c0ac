"""The tuning study (analysis/tuning.py), its recipe file (study/tuning_recipe.py) and a run that trains with it
(training/tuned.py): synthetic tuning runs from a known LR*(N) and β2 effect, a real tiny training run."""

import json

import numpy as np
import pytest

from plm_scaling.analysis import tuning
from plm_scaling.analysis.table import GIGAFLO, Table
from plm_scaling.config_schema import ConfigError
from plm_scaling.study.fit import study_analysis
from plm_scaling.study.sweeps import budget_points, expand, recipe_of
from plm_scaling.study.tuning_recipe import recipe_of as recipe_from_fits
from plm_scaling.sweep_point import SweepPoint
from plm_scaling.training.plan import make_plan
from plm_scaling.training.train import compose_config

from ..conftest import run_cli, tiny_overrides
from .fixture_study import few_starts

SIZES = (800.0, 1600.0, 3200.0)
SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)
BETAS = (0.95, 0.99, 0.999)
TRUE_EXPONENT = -0.5
BETA_GAIN = {0.95: 0.0, 0.99: -0.004, 0.999: 0.002}  # β2 0.99 trains best, by more than the noise
SD = 0.0005


def true_lr(n: float) -> float:
    return 0.03 * (n / 1e3) ** TRUE_EXPONENT


def recipe_lr(n: float) -> float:  # a recipe that is 2x off at the small end and right at 3,200 (approximately)
    return 0.015 * (n / 1e3) ** -0.25 * 1.6


def synthetic_runs(seed: int = 0) -> list[dict]:
    """Runs of a tuning study: loss = 2.9 - 0.1·log10 N + 0.02·log(lr/LR*)^2 + β2 effect + noise; two seeds at the
    recipe's cell."""
    rng = np.random.default_rng(seed)
    runs = []
    for n in SIZES:
        for scale in SCALES:
            for b in BETAS:
                for s in (0, 1) if (scale, b) == tuning.RECIPE_CELL else (0,):
                    lr = recipe_lr(n) * scale
                    loss = 2.9 - 0.1 * np.log10(n) + 0.02 * np.log(lr / true_lr(n)) ** 2 + BETA_GAIN[b]
                    point = SweepPoint("clm", n, s, 1e10, lr_scale=scale, beta2=b)
                    runs.append(
                        {
                            **{"sweep_point": point.id, "point": point.fields(), "objective": "clm", "n": n},
                            **{"flops": 1e10, "lr": lr, "beta2": b, "valid_loss": loss + rng.normal(0, SD)},
                            **{"final_val_loss": loss, "run_id": f"r{len(runs)}", "files": {"run.json": "0" * 64}},
                        }
                    )
    return runs


def test_the_tuning_fit_recovers_the_lr_law_the_best_beta2_and_the_gain():
    runs = synthetic_runs()
    fit = tuning.tuning_fit(runs, "clm", pooled_sd=SD, seed=0)
    assert fit["best_beta2"] == 0.99
    law = fit["lr_law"]
    assert law["exponent"] == pytest.approx(TRUE_EXPONENT, abs=0.05)
    lo, hi = law["ci95"]
    assert lo < TRUE_EXPONENT < hi and hi - lo < 0.3 and law["failed"] == 0 and law["sizes"] == 3
    assert law["coef"] * 1e3 ** law["exponent"] == pytest.approx(true_lr(1e3), rel=0.15)
    for size in fit["sizes"]:
        assert size["best_cell"]["beta2"] == 0.99
        # the recipe's cell (β2 0.95, LR up to 2x off) against the best: the β2 gain alone is 0.004 nats
        gain = size["gain"]
        assert gain["gain"] > 0.004 - 3 * SD and gain["se"] == pytest.approx(SD * np.sqrt(1 / 2 + 1))  # 2 seeds vs 1
        assert gain["beyond"] == bool(gain["gain"] > 2 * gain["se"] + 0.0038)  # seed noise plus CLM's thread spread
    assert all(tuning.at_recipe_cell(r) == (r["point"]["lr_scale"] == 1 and r["point"]["beta2"] == 0.95) for r in runs)


def test_an_edge_lr_optimum_gives_no_law_and_says_why():
    """Every LR tried is too small for the two larger sizes: their losses fall all the way to the largest LR."""
    runs = [r for r in synthetic_runs() if r["point"]["lr_scale"] <= 0.5 or r["n"] == SIZES[0]]
    for r in runs:
        if r["n"] != SIZES[0]:
            r["valid_loss"] = 3.0 - 0.01 * np.log(r["lr"])  # monotone in LR
    fit = tuning.tuning_fit(runs, "clm", pooled_sd=SD)
    assert fit["lr_law"] is None and "fewer than 2 sizes with an interior LR optimum" in fit["why"]


def _fits(runs) -> dict:
    fit = tuning.tuning_fit(runs, "clm", pooled_sd=SD)
    return {"study": "tuning", "fit_run_id": "f" * 32, "fits": {"clm": {"tuning": fit}}, "input_runs": runs}


@pytest.mark.slow  # two real trainings
def test_a_study_trains_with_the_recipe_and_records_it(small_manifest, tmp_path):
    fits_path = tmp_path / "fits.json"
    fits_path.write_text("{}")
    recipe = recipe_from_fits(_fits(synthetic_runs()), fits_path)
    assert recipe["objectives"]["clm"]["beta2"] == 0.99 and len(recipe["runs"]) == len(synthetic_runs())
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe))
    base = tiny_overrides(small_manifest, tmp_path / "run")
    p = make_plan(compose_config([*base, f"optim.recipe={path}"]))
    law = recipe["objectives"]["clm"]["lr"]
    assert p.lr == pytest.approx(law["coef"] * p.n ** law["exponent"]) and p.beta2 == 0.99
    assert p.recipe["sha256"] and p.recipe["study"] == "tuning" and p.recipe["runs"] == len(recipe["runs"])
    untuned = make_plan(compose_config([*base, "optim.lr_scale=2"]))
    assert untuned.recipe is None and untuned.beta2 == 0.95
    assert untuned.lr == pytest.approx(2 * min(1e-2, 3e-3 * (untuned.n / 1e6) ** -0.25))  # recipe.peak_lr times 2
    # a real run: run.json records the recipe; a new recipe under the same path starts the run again
    proc = run_cli("train", *base, f"optim.recipe={path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    done = json.loads((tmp_path / "run" / "run.json").read_text())
    assert done["recipe"]["sha256"] == p.recipe["sha256"] and done["beta2"] == 0.99
    path.write_text(json.dumps({**recipe, "objectives": {"clm": {**recipe["objectives"]["clm"], "beta2": 0.95}}}))
    again = run_cli("train", *base, f"optim.recipe={path}", "--restart-if-changed")
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["beta2"] == 0.95


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "is not JSON"),
        ('{"objectives": {"mlm": {}}}', "has no recipe for objective clm"),
        ('{"objectives": {"clm": {"lr": {"coef": 0.01, "exponent": -0.3}, "beta2": 1.5}}}', "beta2 1.5 is not in"),
        ('{"objectives": {"clm": {"lr": {"coef": -1, "exponent": -0.3}, "beta2": 0.9}}}', "needs a coef above 0"),
    ],
)
def test_a_file_that_is_no_recipe_is_refused_in_one_line(small_manifest, tmp_path, content, message):
    path = tmp_path / "recipe.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as err:
        make_plan(compose_config([*tiny_overrides(small_manifest, tmp_path / "run"), f"optim.recipe={path}"]))
    assert "config key optim.recipe" in str(err.value) and "\n" not in str(err.value)


def test_a_run_records_its_recipe_from_the_working_directory_and_audit_finds_it_from_there(tmp_path, monkeypatch):
    """The workflow names a study's recipe from its working directory (the repository root): a run records it so,
    with its sha256, not by one checkout's absolute path; audit, run from anywhere, finds it from the fit's workdir."""
    from types import SimpleNamespace

    from plm_scaling.io import sha256_file
    from plm_scaling.names import RECIPE
    from plm_scaling.provenance.audit_runs import recipe_lines
    from plm_scaling.training import tuned

    work, named = tmp_path / "checkout", RECIPE.format("tuning")
    (work / named).parent.mkdir(parents=True)
    entry = {"lr": {"coef": 0.1, "exponent": -0.3}, "beta2": 0.99}
    (work / named).write_text(json.dumps({"study": "tuning", "objectives": {"clm": entry}}))
    monkeypatch.chdir(work)
    used = tuned.read(named, "clm")
    assert used["path"] == tuned.read(work / named, "clm")["path"] == named  # given relative or absolute
    assert used["sha256"] == sha256_file(work / named)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # a recipe outside the working directory keeps its absolute path
    assert tuned.read(work / named, "clm")["path"] == str(work / named)
    runs = SimpleNamespace(problems=[])  # audit from this other folder; no fit run named, so no store is asked
    assert "trained with the recipe of study tuning" in recipe_lines(used, runs, work)[0] and runs.problems == []


STUDY = {"seeds": [0], "overrides": [], "point_overrides": {}, "dataset": "d"}


def test_tuning_axes_name_their_points_and_a_recipe_reaches_every_run():
    grid = {"objectives": ["clm"], "sizes": [800], "budgets": [1e10], "lr_scales": [0.5, 2], "beta2s": [0.99]}
    points = expand({**STUDY, "sweeps": [grid]})
    assert sorted(points) == ["clm_N800_C1e10_lr0.5_b0.99_s0", "clm_N800_C1e10_lr2_b0.99_s0"]
    assert "optim.lr_scale=0.5" in points["clm_N800_C1e10_lr0.5_b0.99_s0"].overrides
    assert "optim.beta2=0.99" in points["clm_N800_C1e10_lr2_b0.99_s0"].overrides
    tuned = {**STUDY, "recipe": "tuning", "sweeps": [{"objectives": ["clm"], "sizes": [800], "budgets": [1e10]}]}
    assert [recipe_of(p.overrides) for p in expand(tuned).values()] == ["results/studies/tuning/recipe.json"]
    planned = budget_points(tuned, "clm", [1600], 3e10, [0])  # an adaptive round's or the extrapolation's points
    assert [recipe_of(o) for o in planned.values()] == ["results/studies/tuning/recipe.json"]


def test_a_study_that_names_a_recipe_is_checked_before_it_runs(tmp_path, monkeypatch):
    from plm_scaling.study.workflow_config import check_recipe

    monkeypatch.chdir(tmp_path)
    grid = {"objectives": ["clm"], "sizes": [800], "budgets": [1e10]}
    study = {**STUDY, "recipe": "tuning", "sweeps": [grid]}
    with pytest.raises(ValueError, match=r"^s.yaml: recipe: results/studies/tuning/recipe.json not found; run the"):
        check_recipe(study, "mine", "s.yaml")
    with pytest.raises(ValueError, match=r"recipe 'mine' is this study itself"):
        check_recipe({**study, "recipe": "mine"}, "mine", "s.yaml")
    with pytest.raises(ValueError, match=r"recipe: '\.\./x' is not a safe name"):
        check_recipe({**study, "recipe": "../x"}, "mine", "s.yaml")
    (tmp_path / "results/studies/tuning").mkdir(parents=True)
    recipe = tmp_path / "results/studies/tuning/recipe.json"
    recipe.write_text(json.dumps({"objectives": {"mlm": {"lr": {"coef": 0.1, "exponent": -0.3}, "beta2": 0.99}}}))
    with pytest.raises(ConfigError, match=r"recipe.json has no recipe for objective clm"):
        check_recipe(study, "mine", "s.yaml")  # the tuning fit left CLM out: refused before any run
    recipe.write_text(json.dumps({"objectives": {"clm": {"lr": {"coef": 0.1, "exponent": -0.3}, "beta2": 0.99}}}))
    check_recipe(study, "mine", "s.yaml")
    with pytest.raises(ValueError, match=r"takes its beta2; drop the grid key beta2s"):
        check_recipe({**study, "sweeps": [{**grid, "beta2s": [0.99]}]}, "mine", "s.yaml")


def _loss_table(runs: list[dict]) -> Table:
    """The loss table collect makes of these runs, one validation each (the fit selects its rows by run)."""
    row = {"x_kind": "gigaflos", "metric": "valid_loss", "row": 0.0, "wall_time": 0.0, "duplicate_of": ""}
    return Table.from_rows(
        [
            {**row, "objective": r["objective"], "size_label": f"N{r['n']:g}", "n": r["n"], "run": r["sweep_point"]}
            | {"x": r["flops"] / GIGAFLO, "loss": r["valid_loss"], "source": f"{r['sweep_point']}/curve.csv"}
            | {"group": f"study/tuning/{r['objective']}"}
            for r in runs
        ]
    )


@pytest.mark.filterwarnings("ignore:study-clm")  # one budget has no IsoFLOP minimum: not what is tested here
def test_the_fit_compares_sizes_for_the_seed_noise_at_the_recipe_cell_only():
    """A budget's other LR and β2 cells are the same size, not the next one: the fit step's size differences
    (fits.json noise) are between adjacent sizes at the recipe's cell, each the difference of those cells' means."""
    runs = [{**r, "tokens": r["flops"] / (6 * r["n"])} for r in synthetic_runs()]
    grid = {"objectives": ["clm"], "sizes": list(SIZES), "budgets": [1e10], "lr_scales": SCALES, "beta2s": BETAS}
    with few_starts():
        analyse = study_analysis({**STUDY, "sweeps": [grid]}, None, bootstrap=0, seed=0)
        noise = analyse(_loss_table(runs), runs)["clm"]["noise"]
    pairs = [(d["n_small"], d["n_large"]) for d in noise["differences"]]
    assert pairs == list(zip(SIZES, SIZES[1:])) and noise["compared"] == len(SIZES) - 1
    recipe = {n: np.mean([r["valid_loss"] for r in runs if r["n"] == n and tuning.at_recipe_cell(r)]) for n in SIZES}
    assert [d["diff"] for d in noise["differences"]] == pytest.approx([recipe[b] - recipe[a] for a, b in pairs])
    assert noise["below_noise"] == 0  # 0.1·log10(2) nats a doubling of N, far beyond the seed noise


def test_a_size_whose_best_lr_is_beyond_those_tried_is_left_out_of_the_law_and_its_interval():
    """The largest size's losses fall all the way to the largest LR: the law rests on the other two, and so do its
    interval's draws (a draw is not lost for a size the law does not use)."""
    runs = synthetic_runs()
    for r in runs:
        if r["n"] == SIZES[-1]:
            r["valid_loss"] = 3.0 - 0.01 * np.log(r["lr"])  # monotone: best at the largest LR tried
    law = tuning.tuning_fit(runs, "clm", pooled_sd=SD)["lr_law"]
    assert law["sizes"] == 2 and law["edges"] == [SIZES[-1]]
    assert law["failed"] < 100 and law["ci95"][0] < TRUE_EXPONENT < law["ci95"][1]


def test_the_fits_table_lists_the_tuning_fit(tmp_path):
    from plm_scaling.study.fits_table import write_fits_table

    fit = tuning.tuning_fit(synthetic_runs(), "clm", pooled_sd=SD)
    write_fits_table({"clm": {"tuning": fit}}, tmp_path / "t.csv")
    import csv

    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    by = {}
    for r in rows:
        by.setdefault(r["quantity"], []).append(r)
    (law,) = by["LR*(N) exponent"]
    assert float(law["value"]) == pytest.approx(fit["lr_law"]["exponent"])
    assert float(law["ci95_low"]) == pytest.approx(fit["lr_law"]["ci95"][0]) and "3 sizes, at beta2 0.99" in law["note"]
    assert float(by["best beta2"][0]["value"]) == 0.99 and len(by["tuning gain"]) == 3
    gains = [s["gain"]["gain"] for s in fit["sizes"]]
    assert [float(r["value"]) for r in by["tuning gain"]] == pytest.approx(gains, rel=1e-5)  # 6 digits written
