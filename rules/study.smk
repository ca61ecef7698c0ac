# Study stage: the study's evaluated runs -> fits (an MLflow run) -> figures with provenance (MLflow runs).
# The study's figures (STUDY_FIGURE_NAMES) and its fits table, or nothing when config key study is null.
STUDY_TARGETS = [
    *(f for name in STUDY_FIGURE_NAMES for f in figure_files(f"{STUDY_DIR}/figures/{name}")),
    *([f"{STUDY_DIR}/fits_table.csv"] if STUDY else []),
    *([f"{EXTRAPOLATION}/fits_table.csv"] if "extrapolation" in STUDY_FIGURE_NAMES else []),
    *([RECIPE.format(STUDY_NAME)] if is_tuning_study(STUDY) else []),
]


rule fit_study:
    input:
        metrics=study_metrics,
        rounds=study_rounds,  # an adaptive study's round plans (else none)
        store=rules.mlflow_store.output,
        study=lambda wc: str(study_file()),
        manifest=lambda wc: split_outputs(STUDY["dataset"])[-1],
        paper=lambda wc: paper_table_input(),
    output:
        fits=f"{STUDY_DIR}/fits.json",
        table=f"{STUDY_DIR}/loss_table.csv",
        summary=report(
            f"{STUDY_DIR}/fits_table.csv",
            caption="report/study_fits_table.rst",
            category="Study",
            subcategory=STUDY_NAME,
        ),
    log:
        f"results/logs/{STUDY_NAME}/fit_study.log",
    benchmark:
        f"results/benchmarks/{STUDY_NAME}/fit_study.tsv"
    params:
        plm=PLM,
        study=STUDY_NAME,
        uri=config["mlflow"]["tracking_uri"],
        experiment=analysis_experiment(),
        bootstrap=config["analysis"]["bootstrap"],
        seed=config["analysis"]["seed"],
        code=CODE["analysis"],
        paper=lambda wc, input: f"--paper-table {shlex.quote(input.paper)}" if input.paper else "",
        rounds=lambda wc, input: shlex.join(["--rounds", *input.rounds]) if ADAPTIVE else "",
    shell:
        "{params.plm} study fit {params.study:q} {output.fits:q} {output.table:q} {output.summary:q}"
        " --runs {input.metrics:q} --study-file {input.study:q}"
        " --manifest {input.manifest:q} --tracking-uri {params.uri:q} --experiment {params.experiment:q}"
        " --bootstrap {params.bootstrap} --seed {params.seed} {params.paper} {params.rounds} > {log:q} 2>&1"


# A tuning study's recipe (LR*(N), beta2 per objective) from its fit, which another study names (study key recipe):
# an input of that study's every training job.
rule tuned_recipe:
    input:
        rules.fit_study.output.fits,
    output:
        RECIPE.format(STUDY_NAME),
    log:
        f"results/logs/{STUDY_NAME}/tuned_recipe.log",
    benchmark:
        f"results/benchmarks/{STUDY_NAME}/tuned_recipe.tsv"
    params:
        plm=PLM,
        code=CODE["analysis"],
    shell:
        "{params.plm} study recipe {input:q} {output:q} > {log:q} 2>&1"


# Adaptive rounds (study key adapt): round k's plan fits the runs so far and names round k's points, or says why the
# study stops there; which runs exist depends on the fits, so each plan is a checkpoint (common.smk: decided_rounds,
# round_metrics, study_metrics). A written plan is not planned again when a file it read is rewritten or the analysis
# code changes (no code param): a rerun after a kill continues the round; a changed analysis.bootstrap or
# analysis.seed (its params) plans it again.
checkpoint plan_round:
    input:
        metrics=round_metrics,  # the runs so far
        earlier=round_earlier,  # the plans of rounds 1..k-1
        store=rules.mlflow_store.output,
        study=lambda wc: str(study_file()),
        manifest=lambda wc: split_outputs(STUDY["dataset"])[-1],
    output:
        f"{STUDY_DIR}/{ROUND_PLAN}",
    log:
        f"results/logs/{STUDY_NAME}/plan_round/{{round}}.log",
    benchmark:
        f"results/benchmarks/{STUDY_NAME}/plan_round/{{round}}.tsv"
    wildcard_constraints:
        round="[1-9][0-9]*",
    params:
        plm=PLM,
        uri=config["mlflow"]["tracking_uri"],
        experiment=analysis_experiment(),
        bootstrap=config["analysis"]["bootstrap"],
        seed=config["analysis"]["seed"],
        earlier=lambda wc, input: shlex.join(["--earlier", *input.earlier]),
    shell:
        "{params.plm} study plan-round {input.study:q} {wildcards.round} {output:q} --runs {input.metrics:q}"
        " {params.earlier} --manifest {input.manifest:q} --tracking-uri {params.uri:q} --experiment {params.experiment:q}"
        " --bootstrap {params.bootstrap} --seed {params.seed} > {log:q} 2>&1"


# The extrapolation check: which runs to train depends on the fit, so planning them is a checkpoint; Snakemake
# re-evaluates the DAG once the plan exists (common.smk: point_spec, planned_input, planned_metrics).
checkpoint plan_extrapolation:
    input:
        fits=rules.fit_study.output.fits,
        study=lambda wc: str(study_file()),
        law=extrapolation_law(),
    output:
        f"{EXTRAPOLATION}/plan.json",
    log:
        f"results/logs/{STUDY_NAME}/plan_extrapolation.log",
    benchmark:
        f"results/benchmarks/{STUDY_NAME}/plan_extrapolation.tsv"
    params:
        plm=PLM,
        code=CODE["analysis"],
    shell:
        "{params.plm} study plan-check {input.fits:q} {input.study:q} {output:q} > {log:q} 2>&1"


rule check_extrapolation:
    input:
        plan=rules.plan_extrapolation.output[0],
        metrics=planned_metrics,
        store=rules.mlflow_store.output,
        study=lambda wc: str(study_file()),
        manifest=lambda wc: split_outputs(STUDY["dataset"])[-1],
    output:
        fits=f"{EXTRAPOLATION}/check.json",
        table=f"{EXTRAPOLATION}/loss_table.csv",
        summary=report(
            f"{EXTRAPOLATION}/fits_table.csv",
            caption="report/study_fits_table.rst",
            category="Study",
            subcategory=STUDY_NAME,
        ),
    log:
        f"results/logs/{STUDY_NAME}/check_extrapolation.log",
    benchmark:
        f"results/benchmarks/{STUDY_NAME}/check_extrapolation.tsv"
    params:
        plm=PLM,
        study=STUDY_NAME,
        uri=config["mlflow"]["tracking_uri"],
        experiment=analysis_experiment(),
        code=CODE["analysis"],
    shell:
        "{params.plm} study check {params.study:q} {input.plan:q} {output.fits:q} {output.table:q}"
        " {output.summary:q} --runs {input.metrics:q} --study-file {input.study:q} --manifest {input.manifest:q}"
        " --tracking-uri {params.uri:q} --experiment {params.experiment:q} > {log:q} 2>&1"


rule study_figure:
    input:
        # the extrapolation figure draws the check (a JSON of the fits JSON's shape), every other one the fit
        fits=lambda wc: f"{EXTRAPOLATION}/check.json" if wc.figure == "extrapolation" else f"{STUDY_DIR}/fits.json",
    output:
        png=report(
            f"{STUDY_DIR}/figures/{{figure}}.png",
            caption="report/study_figure.rst",
            category="Study",
            subcategory=STUDY_NAME,
        ),
        svg=f"{STUDY_DIR}/figures/{{figure}}.svg",
        provenance=f"{STUDY_DIR}/figures/{{figure}}.png.provenance.json",
    log:
        f"results/logs/{STUDY_NAME}/study_figure/{{figure}}.log",
    benchmark:
        f"results/benchmarks/{STUDY_NAME}/study_figure/{{figure}}.tsv"
    wildcard_constraints:
        figure="|".join(STUDY_FIGURES),
    params:
        plm=PLM,
        code=CODE["analysis"],
    shell:
        "{params.plm} study figure {wildcards.figure:q} {input.fits:q} {output.png:q} > {log:q} 2>&1"
