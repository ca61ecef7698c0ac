# Helpers shared by all rules, and validation of the configuration against its JSON schema.
import sys
from pathlib import Path

from snakemake.utils import min_version

from plm_scaling.config_schema import validate_config

min_version("9.0")

# Fills defaults in place; a bad value stops the workflow with one line naming the key.
validate_config(config, workflow.source_path("../config/schemas/config.schema.yaml"))

# The interpreter that runs Snakemake has the project installed (make setup); rules call the CLI through it so
# they work whether or not the virtual environment's bin/ is on PATH.
PLM = f"{sys.executable} -m plm_scaling.cli"
SPLITS = ["train", "valid", "test"]
SHARD_EXT = [".tokens.u8", ".offsets.npy", ".ids.txt"]


def dataset(name):
    try:
        return config["datasets"][name]
    except KeyError:
        raise ValueError(f"config key datasets.{name} is not defined") from None


def split_outputs(name):
    base = f"results/data/{name}/split"
    return [f"{base}/{s}{e}" for s in SPLITS for e in SHARD_EXT] + [f"{base}/manifest.json"]


def sweep_points():
    """Sweep point id -> Hydra overrides, from config key `sweep` (empty when it is null)."""
    sweep = config.get("sweep")
    if not sweep:
        return {}
    points = {}
    for objective in sweep["objectives"]:
        for size in sweep["sizes"]:
            for flops in sweep["budgets"]:
                for seed in sweep["seeds"]:
                    point = f"{objective}_N{float(size):g}_C{float(flops):.0e}_s{seed}".replace("+", "")
                    points[point] = [f"objective={objective}", f"model.target_params={float(size)}",
                                     f"budget.flops={float(flops)}", f"seed={seed}", f"run.id={point}",
                                     *sweep.get("overrides", [])]
    return points


def train_overrides(point, manifest):
    overrides = sweep_points()[point] + [f"run.dir={RUNS}/{point}", f"data.manifest={manifest}",
                                         f"logger.tracking_uri={config['mlflow']['tracking_uri']}",
                                         f"logger.experiment={config['mlflow']['experiment']}",
                                         f"+tags.snakemake_rule=train", f"+tags.wildcards=point:{point}"]
    return " ".join(f"'{o}'" for o in overrides)


def train_targets():
    return [f"results/runs/{point}/metrics.json" for point in sweep_points()]


def paper_targets():
    """Figures and Table 2 of the paper stage, or nothing when config key paper_logs is null."""
    if not config["paper_logs"]:
        return []
    if not Path(config["paper_logs"]).is_dir():
        raise ValueError(
            f"config key paper_logs: folder {config['paper_logs']} not found; point it at the authors' released "
            "logs (see README) or set it to null to skip the paper stage"
        )
    figures = [f"results/paper/figures/{name}.{ext}" for name in PAPER_FIGURES for ext in ("png", "svg")]
    return figures + ["results/paper/table2.csv", "results/paper/table2.md"]


def data_targets():
    return [t for name in config["datasets"] for t in split_outputs(name) + [f"results/data/{name}/stats.png"]]
