# Compute-optimal protein language models (Cheng et al., NeurIPS 2024) as a workflow.
# Stages live in rules/; this file only wires them together.

configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/study.smk"
include: "rules/paper.smk"


rule all:
    input:
        data_targets(),
        train_targets(),
        study_targets(),
        paper_targets(),
    default_target: True
