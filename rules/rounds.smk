# Adaptive rounds (study key adapt; checkpoint plan_round in study.smk): which round plans exist, the points they
# name and the runs each plan and the study's fit read. Helpers only, beside common.smk's.
from plm_scaling.study.rounds import ROUND_PLAN, read_round

ADAPTIVE = bool(STUDY) and "adapt" in STUDY  # the study has adaptive rounds


def decided_rounds(upto=None):
    """(path, plan) of rounds 1..upto, or of every round until one stops (upto None), each once its checkpoint
    plan_round has run: asking for a plan not yet made tells Snakemake to make it, then re-evaluate the DAG."""
    plans, k = [], 1
    while upto is None or k <= upto:
        path = checkpoints.plan_round.get(round=k).output[0]
        plans.append((path, read_round(path)))
        if plans[-1][1]["stop"]:
            break
        k += 1
    return plans


def round_of(point):
    """(path, overrides) from the plan of the adaptive round that named `point`, or (None, None); only plan_round
    names such points, so the plan exists whenever Snakemake asks."""
    plans = Path(STUDY_DIR).glob(ROUND_PLAN.format(round="*"))
    for path in sorted(plans, key=lambda p: int(p.parent.name)):
        points = read_round(path)["points"]
        if point in points:
            return str(path), points[point]
    return None, None


def metrics_of(rounds):
    """The evaluated metrics of the grid's points and of the points of `rounds` ((path, plan) pairs)."""
    return [f"{RUNS}/{p}/metrics.json" for p in [*POINTS, *(p for _, plan in rounds for p in plan["points"])]]


# What round k's plan reads (the metrics of the grid's runs and of rounds 1..k-1, and those rounds' plans; `ancient`:
# a decided round is not planned again when a file it read is rewritten), and what the study's fit reads. Separate
# functions, not one unpacked dict: a checkpoint not yet run leaves no named inputs to unpack.
def round_metrics(wildcards):
    return [ancient(m) for m in metrics_of(decided_rounds(int(wildcards.round) - 1))]


def round_earlier(wildcards):
    return [ancient(path) for path, _ in decided_rounds(int(wildcards.round) - 1)]


def study_metrics(wildcards):
    return metrics_of(decided_rounds()) if ADAPTIVE else TRAIN_TARGETS


def study_rounds(wildcards):
    return [path for path, _ in decided_rounds()] if ADAPTIVE else []


def planned_metrics(wildcards):
    """The evaluated metrics of every point the extrapolation check planned (known once the checkpoint ran)."""
    plan = read_plan(checkpoints.plan_extrapolation.get().output[0])
    return [f"{RUNS}/{point}/metrics.json" for point in plan["points"]]
