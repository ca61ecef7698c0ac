# Helpers shared by all rules, and validation of the configuration against its JSON schema.
import shlex
import sys
from pathlib import Path

import yaml

from snakemake.utils import min_version

from plm_scaling.config_schema import validate_config
from plm_scaling.study.lineage import STAGES, stage_hash
from plm_scaling.study.figure import FIGURES
from plm_scaling.study.sweeps import grids as study_grids
from plm_scaling.study.sweeps import sweep_points as study_sweep_points

min_version("9.0")

SCHEMA = Path(workflow.basedir) / "config" / "schemas" / "config.schema.yaml"
# `--config paper_logs=null` arrives as the text "null": these keys mean "skip" then, as YAML's null does.
for key in ("paper_logs", "study"):
    if str(config.get(key)).lower() in ("none", "null", ""):
        config[key] = None
# Fills defaults in place; a bad value stops the workflow with one line naming the key.
validate_config(config, SCHEMA)

# The interpreter that runs Snakemake has the project installed (make setup); rules call the CLI through it so
# they work whether or not the virtual environment's bin/ is on PATH. Quoted here: its path may hold a space.
PLM = f"{shlex.quote(sys.executable)} -m plm_scaling.cli"
SPLITS = ["train", "valid", "test"]
SHARD_EXT = [".tokens.u8", ".offsets.npy", ".ids.txt"]


def dataset(name):
    try:
        return config["datasets"][name]
    except KeyError:
        raise ValueError(f"config key datasets.{name} is not defined") from None


def split_outputs(name):
    base = f"results/data/{name}/split"
    return [*(f"{base}/{s}{e}" for s in SPLITS for e in SHARD_EXT), f"{base}/manifest.json"]


def study_file():
    folder = config.get("study_dir") or Path(workflow.basedir) / "config" / "studies"
    return Path(folder) / f"{config['study']}.yaml"


def load_study():
    """The study named by config key `study`, validated against $defs/study of the config schema."""
    if config.get("study") is None:
        return None
    path = study_file()
    if not path.is_file():
        raise ValueError(f"config key study: no study file {path}")
    study = yaml.safe_load(path.read_text()) or {}
    validate_config(study, SCHEMA, definition="study", where=f"{path}: ")
    study_sweep_points(study, where=f"{path}: ")  # a bad grid or point override stops the workflow here
    if study["dataset"] not in config["datasets"]:
        raise ValueError(f"{path}: dataset {study['dataset']!r} is not a key of config datasets")
    return study


STUDY = load_study()
STUDY_NAME = config.get("study") or ""
STUDY_DIR = f"results/studies/{STUDY_NAME or 'none'}"  # every output of the study lives under it
RUNS = f"{STUDY_DIR}/runs"


def sweep_points():
    """Sweep point id -> Hydra overrides, for every objective x size x budget x seed of the study."""
    return {} if STUDY is None else study_sweep_points(STUDY, where=f"{study_file()}: ")


def point_spec(point):
    return f"{STUDY_DIR}/specs/{point}.txt"


def write_point_specs():
    """Each sweep point's overrides in a file of its own, rewritten only when they change. Snakemake records only
    non-callable params, so per-point overrides would be invisible to its params trigger; the file's mtime makes a
    changed point (and only it) out of date."""
    for point, overrides in sweep_points().items():
        path, text = Path(point_spec(point)), "".join(f"{o}\n" for o in overrides)
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


def train_overrides(point, manifest):
    overrides = [*sweep_points()[point], f"run.dir={RUNS}/{point}", f"data.manifest={manifest}",
                                         f"logger.tracking_uri={config['mlflow']['tracking_uri']}",
                                         f"logger.experiment={mlflow_experiment()}", f"tags.study={STUDY_NAME}",
                                         "tags.snakemake_rule=train", f"tags.wildcards=point:{point}"]
    return " ".join(shlex.quote(o) for o in overrides)  # a user's string never reaches the shell unquoted


def mlflow_experiment():
    """One MLflow experiment per study."""
    return f"{config['mlflow']['experiment']}/{STUDY_NAME}" if STUDY_NAME else config["mlflow"]["experiment"]


def paper_experiment():
    """The paper stage's experiment: the authors' released curves, the paper fits, figures and Table 2."""
    return f"{config['mlflow']['experiment']}/paper"


if STUDY is not None:
    write_point_specs()


# Each stage's source hash goes into its rules' params: Snakemake's code trigger does not see the modules a rule
# imports. Hashed from this workflow's own src/ (a copied workflow hashes its copy).
CODE = {stage: stage_hash(stage, Path(workflow.basedir) / "src" / "plm_scaling") for stage in STAGES}


def train_targets():
    return [f"{RUNS}/{point}/metrics.json" for point in sweep_points()]


def study_figures():
    """The figures of the study: IsoFLOP always, the mask-ratio figure when a grid sweeps mask ratios."""
    ratios = any("mask_ratios" in g for g in study_grids(STUDY))
    return ["isoflop", *(["mask_ratio"] if ratios else [])]


def study_targets():
    if STUDY is None:
        return []
    bases = [f"{STUDY_DIR}/figures/{name}" for name in study_figures()]
    return [f"{base}{ext}" for base in bases for ext in (".png", ".svg", ".png.provenance.json")]


def paper_targets():
    """Figures and Table 2 of the paper stage, or nothing when config key paper_logs is null."""
    if not config["paper_logs"]:
        return []
    if not Path(config["paper_logs"]).is_dir():
        raise ValueError(
            f"config key paper_logs: folder {config['paper_logs']} not found; point it at the authors' released "
            "logs (see README) or set it to null to skip the paper stage"
        )
    figures = [f"results/paper/figures/{name}.{ext}" for name in PAPER_FIGURES
               for ext in ("png", "svg", "png.provenance.json")]  # fmt: skip
    return [*figures, "results/paper/table2.csv", "results/paper/table2.md", "results/paper/table2.csv.provenance.json"]


def data_targets():
    return [t for name in config["datasets"] for t in (*split_outputs(name), f"results/data/{name}/stats.png")]
