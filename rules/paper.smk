# Paper stage: the authors' released logs -> tidy table -> fits -> the paper's figures and Table 2.
# Runs when config key paper_logs is set, for no study or a study with study key paper_stage (common.smk: PAPER_LOGS).


# Figures and Table 2 of the paper stage, or nothing when it does not run.
PAPER_TARGETS = (
    [
        *(f for name in PAPER_FIGURES for f in figure_files(f"{PAPER}/figures/{name}")),
        *(f"{PAPER}/{PAPER_TABLE}{ext}" for ext in (".csv", ".md", f".csv{SIDECAR}")),
    ]
    if PAPER_LOGS
    else []
)


rule ingest_paper_logs:
    input:
        ancient(PAPER_LOGS or []),
    output:
        f"{PAPER}/loss_table.csv",
    log:
        "results/logs/paper/ingest_paper_logs.log",
    benchmark:
        "results/benchmarks/paper/ingest_paper_logs.tsv"
    params:
        plm=PLM,
        code=CODE["analysis"],
    shell:
        "{params.plm} paper ingest {input:q} {output:q} > {log:q} 2>&1"


rule paper_mlflow_store:
    input:
        rules.mlflow_store.output,  # after the study's: creating the store's schema twice at once races
    output:
        f"{PAPER}/mlflow_store.json",
    log:
        "results/logs/paper/paper_mlflow_store.log",
    benchmark:
        "results/benchmarks/paper/paper_mlflow_store.tsv"
    params:
        plm=PLM,
        uri=config["mlflow"]["tracking_uri"],
        experiment=paper_experiment(),
    shell:
        "{params.plm} study init {params.uri:q} {params.experiment:q} {output:q} > {log:q} 2>&1"


rule track_paper_logs:
    input:
        table=rules.ingest_paper_logs.output,
        store=rules.paper_mlflow_store.output,
    output:
        f"{PAPER}/released_runs.json",
    log:
        "results/logs/paper/track_paper_logs.log",
    benchmark:
        "results/benchmarks/paper/track_paper_logs.tsv"
    params:
        plm=PLM,
        logs=PAPER_LOGS or "",
        uri=config["mlflow"]["tracking_uri"],
        experiment=paper_experiment(),
        code=CODE["analysis"],
    shell:
        "{params.plm} paper track {params.logs:q} {input.table:q} {output:q} --tracking-uri {params.uri:q}"
        " --experiment {params.experiment:q} > {log:q} 2>&1"


rule fit_paper_logs:
    input:
        table=rules.ingest_paper_logs.output,
        released=rules.track_paper_logs.output,
    output:
        f"{PAPER}/fits.json",
    log:
        "results/logs/paper/fit_paper_logs.log",
    benchmark:
        "results/benchmarks/paper/fit_paper_logs.tsv"
    params:
        plm=PLM,
        bootstrap=config["analysis"]["bootstrap"],
        seed=config["analysis"]["seed"],
        code=CODE["analysis"],
    shell:
        "{params.plm} paper fits {input.table:q} {output:q} --released {input.released:q}"
        " --bootstrap {params.bootstrap} --seed {params.seed} > {log:q} 2>&1"


rule paper_figure:
    input:
        table=rules.ingest_paper_logs.output,
        fits=rules.fit_paper_logs.output,
    output:
        png=report(
            f"{PAPER}/figures/{{figure}}.png",
            caption="report/paper_figure.rst",
            category="Paper reproduction",
            subcategory="Figures and Table 2",
        ),
        svg=f"{PAPER}/figures/{{figure}}.svg",
        provenance=f"{PAPER}/figures/{{figure}}.png.provenance.json",
    log:
        "results/logs/paper/paper_figure/{figure}.log",
    benchmark:
        "results/benchmarks/paper/paper_figure/{figure}.tsv"
    wildcard_constraints:
        figure="|".join(PAPER_FIGURES),
    params:
        plm=PLM,
        code=CODE["analysis"],
    shell:
        "{params.plm} paper figure {wildcards.figure:q} {input.table:q} {input.fits:q} {output.png:q} > {log:q} 2>&1"


rule paper_table2:
    input:
        table=rules.ingest_paper_logs.output,
        fits=rules.fit_paper_logs.output,
    output:
        csv=report(
            f"{PAPER}/table2.csv",
            caption="report/paper_table2.rst",
            category="Paper reproduction",
            subcategory="Figures and Table 2",
        ),
        md=f"{PAPER}/table2.md",
        provenance=f"{PAPER}/table2.csv.provenance.json",
    log:
        "results/logs/paper/paper_table2.log",
    benchmark:
        "results/benchmarks/paper/paper_table2.tsv"
    params:
        plm=PLM,
        table=PAPER_TABLE,
        code=CODE["analysis"],
    shell:
        "{params.plm} paper figure {params.table:q} {input.table:q} {input.fits:q} {output.csv:q} > {log:q} 2>&1"
