# Shared by every rule, in four parts: the configuration, checked once (plm_scaling.study.workflow_config: schema,
# safe names, the study file and the datasets it brings, the study expanded into its sweep points); the points;
# paths of outputs; MLflow names. What a study makes (its figures, whether it fits the released logs) is decided
# in plm_scaling.study.outputs.
import os
import shlex
import sys
from pathlib import Path

from snakemake.utils import min_version

from plm_scaling.code_stages import STAGE_ENTRIES, stage_hash
from plm_scaling.data.blastdb import DB_FILES as BLAST_DB_FILES
from plm_scaling.names import FIGURE_FORMATS, PAPER_FIGURES, PAPER_TABLE, SHARD_SUFFIXES, SIDECAR, SPLITS
from plm_scaling.names import RECIPE, STUDY_FIGURES
from plm_scaling.study.extrapolate import read_plan
from plm_scaling.study.outputs import figures_of, is_transfer_study, is_tuning_study, runs_paper_stage
from plm_scaling.study.outputs import filter_reference as reference_run_dir
from plm_scaling.study.sweeps import Point as StudyPoint
from plm_scaling.study.sweeps import aux_corpus_of, recipe_of
from plm_scaling.study.workflow_config import prepare, study_file as study_path
from plm_scaling.training.pretrained import override as init_override

min_version("9.0")

# ------------------------------------------------------------------------------ configuration, checked once

# Checks config (filling the schema's defaults in place), the study it names and the datasets that study brings;
# a bad value stops the workflow here with one line naming the file and key. POINTS: every sweep point of the
# study by id (study.sweeps.Point: overrides, dataset, subset, init, aux corpus), expanded once.
STUDY, POINTS = prepare(config, Path(workflow.basedir))


def study_file():
    """The study file of config key study, as the study's rules pass it on."""
    return study_path(config, Path(workflow.basedir), config["study"])


def configured(key, name):
    """Entry `name` of config key `key` (datasets or aux_corpora), or one line naming the missing key."""
    try:
        return config[key][name]
    except KeyError:
        raise ValueError(f"config key {key}.{name} is not defined") from None


BLASTDB_FASTA = "results/data/{dataset}/source/proteins.fasta"  # rule blastdb_fasta's output


def dataset_fasta(name):
    """The protein FASTA of dataset `name`: its `fasta`, or the one rule blastdb_fasta writes from its `blastdb`."""
    d = configured("datasets", name)
    return d["fasta"] if "fasta" in d else BLASTDB_FASTA.format(dataset=name)


def split_settings(name):
    """Config key split, with dataset `name`'s own clustering keys (datasets.NAME.split) in place of its."""
    return {**config["split"], **configured("datasets", name).get("split", {})}


def paper_logs_folder():
    """The authors' released logs when the paper stage runs (study.outputs.runs_paper_stage), else None."""
    if not runs_paper_stage(STUDY, config["paper_logs"]):
        return None
    if not Path(config["paper_logs"]).is_dir():
        raise ValueError(
            f"config key paper_logs: folder {config['paper_logs']} not found; point it at the authors' released "
            "logs (see README) or set it to null to skip the paper stage"
        )
    return config["paper_logs"]


PAPER_LOGS = paper_logs_folder()
# The interpreter that runs Snakemake has the project installed (make setup); rules call the CLI through it so
# they work whether or not the virtual environment's bin/ is on PATH. Quoted here: its path may hold a space.
PLM = f"{shlex.quote(sys.executable)} -m plm_scaling.cli"
# Each stage's source hash goes into its rules' params: Snakemake's code trigger does not see the modules a rule
# imports. Hashed from this workflow's own src/ (a copied workflow hashes its copy).
CODE = {stage: stage_hash(stage, Path(workflow.basedir) / "src" / "plm_scaling") for stage in STAGE_ENTRIES}

# ------------------------------------------------------------------------------------------ the study's points

STUDY_NAME = config["study"] or ""
STUDY_DIR = f"results/studies/{STUDY_NAME or 'none'}"  # every output of the study lives under it
RUNS = f"{STUDY_DIR}/runs"
EXTRAPOLATION = f"{STUDY_DIR}/extrapolation"  # the extrapolation check (study key extrapolate)
PAPER = "results/paper"  # the paper stage's outputs (paper.smk)
STUDY_FIGURE_NAMES = figures_of(STUDY)


def point_spec(point):
    """A sweep point of the study, or one an adaptive round or the extrapolation check planned from a fit."""
    if point in POINTS:
        return POINTS[point]
    overrides = round_of(point)[1] if ADAPTIVE else None
    if overrides is not None:
        return StudyPoint(overrides, STUDY["dataset"], None, aux_corpus=aux_corpus_of(overrides))
    plan = read_plan(f"{EXTRAPOLATION}/plan.json")  # its point ids become run folders: checked there
    if point not in plan["points"]:
        raise ValueError(f"{point}: not a sweep point of study {STUDY_NAME} nor a planned extrapolation point")
    overrides = plan["points"][point]
    return StudyPoint(overrides, STUDY["dataset"], None, aux_corpus=aux_corpus_of(overrides))


def point_overrides(wildcards):
    """The sweep point's own overrides. A params function of the wildcards alone, so Snakemake records its value
    and reruns the point (and only it) when they change (rerun trigger `params`)."""
    return point_spec(wildcards.point).overrides


def point_aux_corpus(wildcards):
    """The auxiliary corpus file a code-augmented sweep point mixes in, as an input, or none."""
    corpus = point_spec(wildcards.point).aux_corpus
    return [corpus] if corpus else []


def point_recipe(wildcards):
    """The tuned recipe a point trains with (study key recipe), as an input: a new tuning result retrains it."""
    recipe = recipe_of(point_spec(wildcards.point).overrides)
    return [recipe] if recipe else []


def init_checkpoint(point):
    """The final weights a transfer point starts from (the pre-training point's, grid key transfer_shares), as a
    train input, so Snakemake trains the pre-training point first; none for every other point."""
    source = point_spec(point).init_from
    return [f"{RUNS}/{source}/final.ckpt"] if source else []


def planned_input(wildcards):
    """The plan of a planned point, as an `ancient` input: the plan is rewritten whenever the fit changes, and
    only points whose overrides (params) changed must rerun, not every planned point."""
    if wildcards.point in POINTS:
        return []
    path = round_of(wildcards.point)[0] if ADAPTIVE else None
    return [ancient(path or f"{EXTRAPOLATION}/plan.json")]


def extrapolation_law():
    """The laws file the extrapolation check extrapolates instead of the fit (study key extrapolate.law), or none."""
    law = (STUDY or {}).get("extrapolate", {}).get("law")
    return [law] if law else []


def paper_table_input():
    """The released logs as the paper stage's loss table, which a transfer study's fit fits beside its own runs
    when the paper stage runs (study key paper_stage, config key paper_logs); else none."""
    return f"{PAPER}/loss_table.csv" if PAPER_LOGS and is_transfer_study(STUDY) else []


def train_overrides(point, manifest):
    """The train command's Hydra overrides, each quoted: a user's string never reaches the shell unquoted."""
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
    return " ".join(shlex.quote(o) for o in overrides)


# ------------------------------------------------------------------------------------------------------ paths


def stage_shards(name, stage):
    """The train, valid and test shards of one step of dataset `name`'s data stage: split, dedup, filtered or
    unique/U (a nested unique subset)."""
    return [f"results/data/{name}/{stage}/{s}{e}" for s in SPLITS for e in SHARD_SUFFIXES]


def stage_manifest(name, stage):
    return f"results/data/{name}/{stage}/manifest.json"


def stage_outputs(name, stage):
    """The shards and, last, the manifest of one step of dataset `name`'s data stage."""
    return [*stage_shards(name, stage), stage_manifest(name, stage)]


def unfiltered_outputs(name):
    """Dataset `name` before a perplexity filter: deduplicated when config key datasets.NAME.dedup is set."""
    return stage_outputs(name, "dedup" if configured("datasets", name)["dedup"] else "split")


def split_outputs(name):
    """The shards and manifest that runs on dataset `name` train on: its last data step, filtered (config key
    datasets.NAME.filter), else deduplicated (datasets.NAME.dedup), else the split."""
    d = configured("datasets", name)
    return stage_outputs(name, "filtered" if d["filter"] else "dedup" if d["dedup"] else "split")


def filter_reference(name):
    """The finished CLM run whose scores filter dataset `name` (datasets.NAME.filter): its record and
    weights, as inputs, so Snakemake trains it first when it is a point of the study."""
    run = filter_run(name)
    return [f"{run}/run.json", f"{run}/final.ckpt"]


def filter_run(name):
    """The scoring run's folder: datasets.NAME.filter.reference_run, or its reference_point's run folder."""
    return reference_run_dir(configured("datasets", name)["filter"], f"config key datasets.{name}.filter")


def unique_outputs(name, tokens):
    """A nested unique subset of about `tokens` train tokens of dataset `name` (rule unique_subset)."""
    return stage_outputs(name, f"unique/{tokens}")


def point_manifest(point):
    """The manifest of the data a sweep point trains on: its dataset's last data step, or a nested unique subset
    of it (repeated-data study, grid key unique_tokens)."""
    p = point_spec(point)
    return unique_outputs(p.dataset, p.unique_tokens)[-1] if p.unique_tokens else split_outputs(p.dataset)[-1]


def figure_files(base):
    """A figure's PNG and SVG and the provenance sidecar beside the PNG."""
    return [*(f"{base}{ext}" for ext in FIGURE_FORMATS), f"{base}{FIGURE_FORMATS[0]}{SIDECAR}"]


# ------------------------------------------------------------------------------------------------ MLflow names


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


# The report's landing page (report.smk)
def summary_inputs(wildcards):
    """What the page shows: the study's fit, and Table 2 when the paper stage runs."""
    inputs = {"fits": f"{STUDY_DIR}/fits.json"} if STUDY else {}
    return {**inputs, **({"table2": f"{PAPER}/{PAPER_TABLE}.csv"} if PAPER_LOGS else {})}


def summary_args(wildcards, input):
    study = ["--study", STUDY_NAME] if STUDY else []
    return shlex.join(study + [a for key, path in input.items() for a in (f"--{key}", path)])
