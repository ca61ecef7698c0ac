# Compute-optimal protein language models (Cheng et al., NeurIPS 2024) as a workflow.
# Stages live in rules/; this file only wires them together.


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/rounds.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/study.smk"
include: "rules/paper.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        DATA_TARGETS,
        TRAIN_TARGETS,
        STUDY_TARGETS,
        PAPER_TARGETS,
        SUMMARY_TARGETS,
