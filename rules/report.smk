# The report's landing page: the headline exponents with their intervals, each budget's optimum and Table 2 as
# tables, and what to look at next (study/summary.py). Snakemake shows it first; rebuilt when its inputs change.
REPORT_SUMMARY = f"results/report/{STUDY_NAME or 'paper'}.rst"
SUMMARY_TARGETS = [REPORT_SUMMARY] if STUDY or PAPER_LOGS else []


rule report_summary:
    input:
        unpack(summary_inputs),
    output:
        REPORT_SUMMARY,
    log:
        f"results/logs/{STUDY_NAME or 'paper'}/report_summary.log",
    benchmark:
        f"results/benchmarks/{STUDY_NAME or 'paper'}/report_summary.tsv"
    params:
        plm=PLM,
        args=summary_args,
        code=CODE["analysis"],
    shell:
        "{params.plm} study summary {output:q} {params.args} > {log:q} 2>&1"


# Snakemake reads the page when it writes the report (`--report`, after the run): the static description before.
report: os.path.abspath(REPORT_SUMMARY) if os.path.exists(REPORT_SUMMARY) else "report/workflow.rst"
