# Study stage: the study's evaluated runs -> fits (an MLflow run) -> figures with provenance (MLflow runs).


rule fit_study:
    input:
        metrics=lambda wc: train_targets(),
        store=rules.mlflow_store.output,
        study=lambda wc: str(study_file()),
        manifest=lambda wc: split_outputs(STUDY["dataset"])[-1],
    output:
        fits=f"{STUDY_DIR}/fits.json",
        table=f"{STUDY_DIR}/loss_table.csv",
    params:
        plm=PLM,
        study=STUDY_NAME,
        uri=config["mlflow"]["tracking_uri"],
        experiment=mlflow_experiment(),
        bootstrap=config["analysis"]["bootstrap"],
        seed=config["analysis"]["seed"],
        code=CODE["analysis"],
    conda:
        "../envs/plm-scaling.yaml"
    log:
        f"results/logs/{STUDY_NAME}/fit_study.log",
    benchmark:
        f"results/benchmarks/{STUDY_NAME}/fit_study.tsv"
    shell:
        "{params.plm} study-fit {params.study:q} {output.fits:q} {output.table:q} --runs {input.metrics:q} --study-file {input.study:q}"
        " --manifest {input.manifest:q} --tracking-uri {params.uri:q} --experiment {params.experiment:q}"
        " --bootstrap {params.bootstrap} --seed {params.seed} > {log:q} 2>&1"


rule study_figure:
    input:
        rules.fit_study.output.fits,
    output:
        png=report(
            f"{STUDY_DIR}/figures/{{figure}}.png",
            caption="report/study_figure.rst",
            category="Study",
            subcategory=STUDY_NAME,
        ),
        svg=f"{STUDY_DIR}/figures/{{figure}}.svg",
        provenance=f"{STUDY_DIR}/figures/{{figure}}.png.provenance.json",
    wildcard_constraints:
        figure="|".join(FIGURES),
    params:
        plm=PLM,
        code=CODE["analysis"],
    conda:
        "../envs/plm-scaling.yaml"
    log:
        f"results/logs/{STUDY_NAME}/study_figure/{{figure}}.log",
    benchmark:
        f"results/benchmarks/{STUDY_NAME}/study_figure/{{figure}}.tsv"
    shell:
        "{params.plm} study-figure {wildcards.figure:q} {input:q} {output.png:q} > {log:q} 2>&1"
