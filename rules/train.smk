# Training stage: one train and one evaluate job per sweep point (objective, size, budget, seed).
# Sweep points come from the study (config key `study`, expanded once in common.smk: POINTS); each becomes a list of
# Hydra overrides. Runs land in results/studies/{study}/runs/{point}/.
# The evaluated metrics of every sweep point of the study.
TRAIN_TARGETS = [f"{RUNS}/{point}/metrics.json" for point in POINTS]


rule mlflow_store:
    output:
        f"{STUDY_DIR}/mlflow_store.json",
    log:
        f"results/logs/{STUDY_NAME}/mlflow_store.log",
    benchmark:
        f"results/benchmarks/{STUDY_NAME}/mlflow_store.tsv"
    params:
        plm=PLM,
        uri=config["mlflow"]["tracking_uri"],
        experiment=mlflow_experiment(),
    shell:
        "{params.plm} study init {params.uri:q} {params.experiment:q} {output:q} > {log:q} 2>&1"


rule train:
    input:
        manifest=lambda wc: point_manifest(wc.point),
        # the study's own dataset: variants on other data are also evaluated on its valid split
        study_data=lambda wc: split_outputs(STUDY["dataset"])[-1],
        store=rules.mlflow_store.output,
        aux=point_aux_corpus,
        recipe=point_recipe,
        plan=planned_input,
        init=lambda wc: init_checkpoint(wc.point),
    output:
        done=f"{RUNS}/{{point}}/run.json",
        ckpt=f"{RUNS}/{{point}}/final.ckpt",
    log:
        f"results/logs/{STUDY_NAME}/train/{{point}}.log",
    benchmark:
        f"results/benchmarks/{STUDY_NAME}/train/{{point}}.tsv"
    threads: 1
    params:
        plm=PLM,
        point=point_overrides,
        overrides=lambda wc, input: train_overrides(wc.point, input.manifest),
        code=CODE["train"],
        # `mpi: srun` in a profile's resources starts one task per DDP rank (multi-node, see README "SLURM")
        launcher=lambda wc, resources: getattr(resources, "mpi", ""),
    shell:
        "{params.launcher} {params.plm} train --restart-if-changed {params.overrides} trainer.threads={threads}"
        " > {log:q} 2>&1"


rule evaluate:
    input:
        rules.train.output,
    output:
        f"{RUNS}/{{point}}/metrics.json",
    log:
        f"results/logs/{STUDY_NAME}/evaluate/{{point}}.log",
    benchmark:
        f"results/benchmarks/{STUDY_NAME}/evaluate/{{point}}.tsv"
    params:
        plm=PLM,
        run_dir=lambda wc, input: Path(input[0]).parent,
        code=CODE["train"],
    shell:
        "{params.plm} evaluate {params.run_dir:q} > {log:q} 2>&1"
