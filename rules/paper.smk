# Paper stage: the authors' released logs -> tidy table -> fits -> the paper's figures and Table 2.
# Skipped when config key paper_logs is null.

PAPER = "results/paper"
PAPER_FIGURES = ["repeated_data", "isoflop", "transfer", "mlm_from_clm", "mask_ratio", "isoloss"]
FIGURE_CAPTIONS = {name: f"report/paper_{name}.rst" for name in PAPER_FIGURES}


rule ingest_paper_logs:
    input:
        ancient(config["paper_logs"] or []),
    output:
        f"{PAPER}/loss_table.csv",
    conda:
        "../envs/plm-scaling.yaml"
    log:
        "results/logs/paper/ingest_paper_logs.log",
    benchmark:
        "results/benchmarks/paper/ingest_paper_logs.tsv"
    params:
        plm=PLM,
        code=CODE["analysis"],
    shell:
        "{params.plm} ingest-logs {input:q} {output:q} > {log:q} 2>&1"


rule fit_paper_logs:
    input:
        rules.ingest_paper_logs.output,
    output:
        f"{PAPER}/fits.json",
    params:
        plm=PLM,
        bootstrap=config["analysis"]["bootstrap"],
        seed=config["analysis"]["seed"],
        code=CODE["analysis"],
    conda:
        "../envs/plm-scaling.yaml"
    log:
        "results/logs/paper/fit_paper_logs.log",
    benchmark:
        "results/benchmarks/paper/fit_paper_logs.tsv"
    shell:
        "{params.plm} paper-fits {input:q} {output:q} --bootstrap {params.bootstrap} --seed {params.seed} > {log:q} 2>&1"


rule paper_figure:
    input:
        table=rules.ingest_paper_logs.output,
        fits=rules.fit_paper_logs.output,
    output:
        png=report(
            f"{PAPER}/figures/{{figure}}.png",
            caption="report/paper_figure.rst",
            category="Paper reproduction",
            subcategory="{figure}",
        ),
        svg=f"{PAPER}/figures/{{figure}}.svg",
    wildcard_constraints:
        figure="|".join(PAPER_FIGURES),
    params:
        plm=PLM,
        code=CODE["analysis"],
    conda:
        "../envs/plm-scaling.yaml"
    log:
        "results/logs/paper/paper_figure/{figure}.log",
    benchmark:
        "results/benchmarks/paper/paper_figure/{figure}.tsv"
    shell:
        "{params.plm} paper-figure {wildcards.figure} {input.table:q} {input.fits:q} {output.png:q} > {log:q} 2>&1"


rule paper_table2:
    input:
        table=rules.ingest_paper_logs.output,
        fits=rules.fit_paper_logs.output,
    output:
        csv=report(f"{PAPER}/table2.csv", caption="report/paper_table2.rst", category="Paper reproduction"),
        md=f"{PAPER}/table2.md",
    params:
        plm=PLM,
        code=CODE["analysis"],
    conda:
        "../envs/plm-scaling.yaml"
    log:
        "results/logs/paper/paper_table2.log",
    benchmark:
        "results/benchmarks/paper/paper_table2.tsv"
    shell:
        "{params.plm} paper-figure table2 {input.table:q} {input.fits:q} {output.csv:q} > {log:q} 2>&1"
