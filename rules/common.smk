# Helpers shared by all rules, and validation of the configuration against its JSON schema.
import shlex
import sys
from pathlib import Path

import yaml

from snakemake.utils import min_version

from plm_scaling.config_schema import validate_config
from plm_scaling.names import FIGURE_FORMATS, PAPER_FIGURES, PAPER_TABLE, SHARD_SUFFIXES, SIDECAR, SPLITS
from plm_scaling.names import STUDY_FIGURES, check_name
from plm_scaling.study.extrapolate import read_plan
from plm_scaling.study.lineage import STAGES, stage_hash
from plm_scaling.training.pretrained import override as init_override
from plm_scaling.study.sweeps import Point as StudyPoint
from plm_scaling.study.sweeps import expand as study_points
from plm_scaling.study.sweeps import grids as study_grids
from plm_scaling.study.sweeps import point_datasets as study_point_datasets
from plm_scaling.study.sweeps import sweep_points as study_sweep_points

min_version("9.0")

SCHEMA = Path(workflow.basedir) / "config" / "schemas" / "config.schema.yaml"
# `--config paper_logs=null` arrives as the text "null": these keys mean "skip" then, as YAML's null does.
for key in ("paper_logs", "study"):
    if str(config.get(key)).lower() in ("none", "null", ""):
        config[key] = None
# Fills defaults in place; a bad value stops the workflow with one line naming the key.
validate_config(config, SCHEMA)
# Names that become folders under results/ (a study's, a dataset's, a corpus's) are checked once, here, before any
# is joined to a path: `--config study=../../x` would otherwise write every output of the study outside results/.
for key in ("datasets", "aux_corpora"):
    for name in config[key]:
        check_name(name, f"config key {key}")
if config["study"] is not None:
    check_name(config["study"], "config key study")

# The interpreter that runs Snakemake has the project installed (make setup); rules call the CLI through it so
# they work whether or not the virtual environment's bin/ is on PATH. Quoted here: its path may hold a space.
PLM = f"{shlex.quote(sys.executable)} -m plm_scaling.cli"


def dataset(name):
    try:
        return config["datasets"][name]
    except KeyError:
        raise ValueError(f"config key datasets.{name} is not defined") from None


def aux_corpus(name):
    try:
        return config["aux_corpora"][name]
    except KeyError:
        raise ValueError(f"config key aux_corpora.{name} is not defined") from None


def point_aux_corpus(wildcards):
    """The auxiliary corpus a sweep point mixes in (its data.aux.corpus override), as an input file, or none."""
    found = [o.split("=", 1)[1] for o in point_overrides(wildcards) if o.startswith("data.aux.corpus=")]
    return [found[-1]] if found and found[-1] not in ("null", "") else []


def stage_outputs(name, stage):
    """The shards and manifest of one step of dataset `name`'s data stage: split, dedup or filtered."""
    base = f"results/data/{name}/{stage}"
    return [*(f"{base}/{s}{e}" for s in SPLITS for e in SHARD_SUFFIXES), f"{base}/manifest.json"]


def unfiltered_outputs(name):
    """Dataset `name` before a perplexity filter: deduplicated when config key datasets.NAME.dedup is set."""
    return stage_outputs(name, "dedup" if dataset(name)["dedup"] else "split")


def split_outputs(name):
    """The shards and manifest that runs on dataset `name` train on: its last data step, filtered (config key
    datasets.NAME.filter), else deduplicated (datasets.NAME.dedup), else the split."""
    d = dataset(name)
    return stage_outputs(name, "filtered" if d["filter"] else "dedup" if d["dedup"] else "split")


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
    for name in sorted(set(study_point_datasets(study, where=f"{path}: ").values())):
        if name not in config["datasets"]:
            raise ValueError(f"{path}: dataset {name!r} is not a key of config datasets")
    if study["aux_corpus"] not in config["aux_corpora"]:
        raise ValueError(f"{path}: aux_corpus {study['aux_corpus']!r} is not a key of config aux_corpora")
    return study


STUDY = load_study()
STUDY_NAME = config.get("study") or ""
STUDY_DIR = f"results/studies/{STUDY_NAME or 'none'}"  # every output of the study lives under it
RUNS = f"{STUDY_DIR}/runs"
EXTRAPOLATION = f"{STUDY_DIR}/extrapolation"  # the extrapolation check (study key extrapolate)
PAPER = "results/paper"  # the paper stage's outputs (paper.smk)


def sweep_points():
    """Sweep point id -> Hydra overrides, for every objective x size x budget x seed of the study."""
    return {} if STUDY is None else study_sweep_points(STUDY, where=f"{study_file()}: ")


def point_spec(point):
    """A sweep point of the study, or one the extrapolation check planned from the fit: its plan exists whenever
    Snakemake asks for such a point, since only the checkpoint plan_extrapolation names them."""
    points = study_points(STUDY, where=f"{study_file()}: ")
    if point in points:
        return points[point]
    plan = read_plan(f"{EXTRAPOLATION}/plan.json")  # its point ids become run folders: checked there
    if point not in plan["points"]:
        raise ValueError(f"{point}: not a sweep point of study {STUDY_NAME} nor a planned extrapolation point")
    return StudyPoint(plan["points"][point], STUDY["dataset"], None)


def point_manifest(point):
    """The manifest of the data a sweep point trains on: its dataset's last data step, or a nested unique subset
    of it (repeated-data study, grid key unique_tokens)."""
    p = point_spec(point)
    return unique_outputs(p.dataset, p.unique_tokens)[-1] if p.unique_tokens else split_outputs(p.dataset)[-1]


def unique_outputs(name, tokens):
    """A nested unique subset of about `tokens` train tokens of dataset `name` (rule unique_subset)."""
    return stage_outputs(name, f"unique/{tokens}")


def init_checkpoint(point):
    """The final weights a transfer point starts from (the pre-training point's, grid key transfer_shares), as a
    train input, so Snakemake trains the pre-training point first; none for every other point."""
    source = point_spec(point).init_from
    return [f"{RUNS}/{source}/final.ckpt"] if source else []


def point_overrides(wildcards):
    """The sweep point's own overrides. A params function of the wildcards alone, so Snakemake records its value
    and reruns the point (and only it) when they change (rerun trigger `params`)."""
    return point_spec(wildcards.point).overrides


def planned_input(wildcards):
    """The plan of a planned point, as an `ancient` input: the plan is rewritten whenever the fit changes, and
    only points whose overrides (params) changed must rerun, not every planned point."""
    return [] if wildcards.point in sweep_points() else [ancient(f"{EXTRAPOLATION}/plan.json")]


def extrapolation_law():
    """The laws file the extrapolation check extrapolates instead of the fit (study key extrapolate.law), or none."""
    law = (STUDY or {}).get("extrapolate", {}).get("law")
    return [law] if law else []


def planned_metrics(wildcards):
    """The evaluated metrics of every point the extrapolation check planned (known once the checkpoint ran)."""
    plan = read_plan(checkpoints.plan_extrapolation.get().output[0])
    return [f"{RUNS}/{point}/metrics.json" for point in plan["points"]]


def train_overrides(point, manifest):
    # a data variant on another dataset is also evaluated on the study dataset's valid split, where all compare
    common = split_outputs(STUDY["dataset"])[-1]
    overrides = [
        *point_spec(point).overrides,
        f"run.dir={RUNS}/{point}",
        f"data.manifest={manifest}",
        *([f"data.eval_manifest={common}"] if point_spec(point).dataset != STUDY["dataset"] else []),
        *(init_override(ckpt) for ckpt in init_checkpoint(point)),  # transfer: start from those weights
        f"logger.tracking_uri={config['mlflow']['tracking_uri']}",
        f"logger.experiment={mlflow_experiment()}",
        f"tags.study={STUDY_NAME}",
        "tags.snakemake_rule=train",
        f"tags.wildcards=point:{point}",
    ]
    return " ".join(shlex.quote(o) for o in overrides)  # a user's string never reaches the shell unquoted


def mlflow_experiment():
    """One MLflow experiment per study."""
    return f"{config['mlflow']['experiment']}/{STUDY_NAME}" if STUDY_NAME else config["mlflow"]["experiment"]


def analysis_experiment():
    """The study's fit and figure runs: an experiment of their own, so the training runs' comparison charts hold
    training runs only (created by the fit step, which runs alone, before the figure jobs)."""
    return f"{mlflow_experiment()}/analysis"


def paper_experiment():
    """The paper stage's experiment: the authors' released curves, the paper fits, figures and Table 2."""
    return f"{config['mlflow']['experiment']}/paper"


# Each stage's source hash goes into its rules' params: Snakemake's code trigger does not see the modules a rule
# imports. Hashed from this workflow's own src/ (a copied workflow hashes its copy).
CODE = {stage: stage_hash(stage, Path(workflow.basedir) / "src" / "plm_scaling") for stage in STAGES}


def study_figure_names():
    """The figures of the study, each drawn when a grid has its axis: IsoFLOP profiles and every run's curves
    against compute for FLOP budgets, the mask-ratio figure for mask ratios, the ablation for data variants, the
    repeated-data figure for unique-token subsets, the transfer figure for transfer shares; the extrapolation
    check's when the study has one."""
    if STUDY is None:
        return []
    axes = {"isoflop": "budgets", "curves": "budgets", "mask_ratio": "mask_ratios", "ablation": "data_variants"}
    axes.update(repeated="unique_tokens", transfer="transfer_shares")
    axes.update(extrapolation="extrapolate")  # a study key, not a grid axis
    swept = {axis for g in study_grids(STUDY) for axis in g} | set(STUDY)
    return [name for name in STUDY_FIGURES if axes[name] in swept]


def paper_table_input():
    """The authors' released logs as the paper stage's loss table, which a transfer study's fit fits beside its
    own runs (grid key transfer_shares); none without config key paper_logs or transfer runs."""
    transfer = any("transfer_shares" in g for g in study_grids(STUDY)) if STUDY else False
    return f"{PAPER}/loss_table.csv" if transfer and paper_logs_folder() else []


def paper_logs_folder():
    """The released logs folder of the paper stage, or None (config key paper_logs null: the stage is skipped)."""
    if not config["paper_logs"]:
        return None
    if not Path(config["paper_logs"]).is_dir():
        raise ValueError(
            f"config key paper_logs: folder {config['paper_logs']} not found; point it at the authors' released "
            "logs (see README) or set it to null to skip the paper stage"
        )
    return config["paper_logs"]


def figure_files(base):
    """A figure's PNG and SVG and the provenance sidecar beside the PNG."""
    return [*(f"{base}{ext}" for ext in FIGURE_FORMATS), f"{base}{FIGURE_FORMATS[0]}{SIDECAR}"]
