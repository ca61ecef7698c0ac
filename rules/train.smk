# Training stage: one train and one evaluate job per sweep point (objective, size, budget, seed).
# Sweep points come from config key `sweep` (see common.smk: sweep_points); each becomes a Hydra override list.

RUNS = "results/runs"


rule mlflow_store:
    output:
        "results/mlflow_store.json",
    params:
        uri=config["mlflow"]["tracking_uri"],
        experiment=config["mlflow"]["experiment"],
    log:
        "results/logs/mlflow_store.log",
    benchmark:
        "results/benchmarks/mlflow_store.tsv"
    shell:
        "{PLM} mlflow-init {params.uri:q} {params.experiment:q} {output:q} > {log:q} 2>&1"


rule train:
    input:
        manifest=lambda wc: split_outputs(config["sweep"]["dataset"])[-1],
        store=rules.mlflow_store.output,
    output:
        done=f"{RUNS}/{{point}}/run.json",
        ckpt=f"{RUNS}/{{point}}/final.ckpt",
    params:
        overrides=lambda wc, input: train_overrides(wc.point, input.manifest),
    log:
        f"results/logs/train/{{point}}.log",
    benchmark:
        f"results/benchmarks/train/{{point}}.tsv"
    threads: 1
    shell:
        "{PLM} train {params.overrides} trainer.threads={threads} > {log:q} 2>&1"


rule evaluate:
    input:
        rules.train.output,
    output:
        f"{RUNS}/{{point}}/metrics.json",
    log:
        f"results/logs/evaluate/{{point}}.log",
    benchmark:
        f"results/benchmarks/evaluate/{{point}}.tsv"
    shell:
        "{PLM} evaluate {RUNS}/{wildcards.point} > {log:q} 2>&1"
