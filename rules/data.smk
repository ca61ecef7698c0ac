# Data stage: FASTA -> validated, length-filtered token shard -> MMseqs2 clustered split -> statistics figure.
# Every dataset's training data (its last data step's shards and manifest) and statistics figure, and the score
# histogram of a perplexity-filtered one. A study's own datasets (study key datasets_file) are in config by now.
DATA_TARGETS = [
    *(t for name in config["datasets"] for t in (*split_outputs(name), f"results/data/{name}/stats.png")),
    *(f"results/data/{name}/filtered/scores.png" for name, d in config["datasets"].items() if d["filter"]),
]


rule blastdb_fasta:
    input:
        lambda wc: [f"{db}{s}" for db in configured("datasets", wc.dataset)["blastdb"] for s in BLAST_DB_FILES],
    output:
        fasta=BLASTDB_FASTA,
        summary=f"{BLASTDB_FASTA}.json",
    log:
        "results/logs/data/blastdb_fasta/{dataset}.log",
    benchmark:
        "results/benchmarks/data/blastdb_fasta/{dataset}.tsv"
    params:
        plm=PLM,
        dbs=lambda wc: " ".join(shlex.quote(db) for db in configured("datasets", wc.dataset)["blastdb"]),
        code=CODE["data"],
    shell:
        "{params.plm} data blastdb {output.fasta:q} -- {params.dbs} > {log:q} 2>&1"


rule clean_fasta:
    input:
        fasta=lambda wc: dataset_fasta(wc.dataset),
    output:
        multiext("results/data/{dataset}/clean/all", *SHARD_SUFFIXES),
        summary="results/data/{dataset}/clean/clean.json",
    log:
        "results/logs/data/clean_fasta/{dataset}.log",
    benchmark:
        "results/benchmarks/data/clean_fasta/{dataset}.tsv"
    params:
        plm=PLM,
        out_dir=lambda wc, output: Path(output.summary).parent,
        min_length=lambda wc: configured("datasets", wc.dataset)["min_length"],
        max_length=lambda wc: configured("datasets", wc.dataset)["max_length"],
        max_records=lambda wc: (
            f"--max-records {n}" if (n := configured("datasets", wc.dataset)["max_records"]) else ""
        ),
        code=CODE["data"],
    shell:
        "{params.plm} data clean {input.fasta:q} {params.out_dir:q}"
        " --min-length {params.min_length} --max-length {params.max_length} {params.max_records} > {log:q} 2>&1"


rule split_dataset:
    input:
        rules.clean_fasta.output,
        summary=rules.clean_fasta.output.summary,
    output:
        stage_shards("{dataset}", "split"),
        manifest=stage_manifest("{dataset}", "split"),
    log:
        "results/logs/data/split_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/data/split_dataset/{dataset}.tsv"
    threads: 1
    params:
        plm=PLM,
        clean_dir=lambda wc, input: Path(input.summary).parent,
        out_dir=lambda wc, output: Path(output.manifest).parent,
        s=lambda wc: split_settings(wc.dataset),
        code=CODE["data"],
    shell:
        "{params.plm} data split {params.clean_dir:q} {params.out_dir:q} --dataset {wildcards.dataset:q}"
        " --identity {params.s[identity]} --coverage {params.s[coverage]} --cov-mode {params.s[cov_mode]}"
        " --cluster-mode {params.s[cluster_mode]} --sensitivity {params.s[sensitivity]}"
        " --max-rejected {params.s[max_rejected]} --max-accept {params.s[max_accept]}"
        " --valid {params.s[valid]} --test {params.s[test]} --seed {params.s[seed]} --threads {threads}"
        " > {log:q} 2>&1"


rule dedup_dataset:
    input:
        rules.split_dataset.output,
        manifest=rules.split_dataset.output.manifest,
    output:
        stage_shards("{dataset}", "dedup"),
        manifest=stage_manifest("{dataset}", "dedup"),
    log:
        "results/logs/data/dedup_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/data/dedup_dataset/{dataset}.tsv"
    threads: 1
    params:
        plm=PLM,
        split_dir=lambda wc, input: Path(input.manifest).parent,
        out_dir=lambda wc, output: Path(output.manifest).parent,
        d=lambda wc: configured("datasets", wc.dataset)["dedup"],
        code=CODE["data"],
    shell:
        "{params.plm} data dedup {params.split_dir:q} {params.out_dir:q} --identity {params.d[identity]}"
        " --coverage {params.d[coverage]} --cov-mode {params.d[cov_mode]} --threads {threads} > {log:q} 2>&1"


rule filter_dataset:
    input:
        lambda wc: unfiltered_outputs(wc.dataset),
        manifest=lambda wc: unfiltered_outputs(wc.dataset)[-1],
        reference=lambda wc: filter_reference(wc.dataset),
    output:
        stage_shards("{dataset}", "filtered"),
        scores="results/data/{dataset}/filtered/scores.csv",
        histogram=report(
            "results/data/{dataset}/filtered/scores.png",
            caption="report/data_scores.rst",
            category="Data",
            subcategory="{dataset}",
        ),
        manifest=stage_manifest("{dataset}", "filtered"),
    log:
        "results/logs/data/filter_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/data/filter_dataset/{dataset}.tsv"
    threads: 2
    params:
        plm=PLM,
        split_dir=lambda wc, input: Path(input.manifest).parent,
        out_dir=lambda wc, output: Path(output.manifest).parent,
        f=lambda wc: configured("datasets", wc.dataset)["filter"],
        reference=lambda wc: filter_run(wc.dataset),
        code=CODE["train"],
    shell:
        "{params.plm} data filter {params.split_dir:q} {params.out_dir:q} --reference {params.reference:q}"
        " --drop-top {params.f[drop_top]} --drop-bottom {params.f[drop_bottom]} --threads {threads} > {log:q} 2>&1"


rule unique_subset:
    input:
        lambda wc: split_outputs(wc.dataset),
        manifest=lambda wc: split_outputs(wc.dataset)[-1],
    output:
        unique_outputs("{dataset}", "{tokens}"),
    log:
        "results/logs/data/unique_subset/{dataset}_{tokens}.log",
    benchmark:
        "results/benchmarks/data/unique_subset/{dataset}_{tokens}.tsv"
    wildcard_constraints:
        tokens=r"\d+",
    threads: 1
    params:
        plm=PLM,
        split_dir=lambda wc, input: Path(input.manifest).parent,
        out_dir=lambda wc, output: Path(output[-1]).parent,
        seed=config["split"]["seed"],
        code=CODE["data"],
    shell:
        "{params.plm} data subset {params.split_dir:q} {params.out_dir:q} --tokens {wildcards.tokens}"
        " --seed {params.seed} --threads {threads} > {log:q} 2>&1"


rule aux_corpus:
    output:
        corpus="results/data/aux/{corpus}/corpus.u8",
        summary="results/data/aux/{corpus}/corpus.json",
    log:
        "results/logs/data/aux_corpus/{corpus}.log",
    benchmark:
        "results/benchmarks/data/aux_corpus/{corpus}.tsv"
    params:
        plm=PLM,
        out_dir=lambda wc, output: Path(output.corpus).parent,
        folder=lambda wc: configured("aux_corpora", wc.corpus)["folder"] or "",
        pattern=lambda wc: configured("aux_corpora", wc.corpus)["pattern"],
        code=CODE["data"],
    shell:
        "{params.plm} data aux {params.out_dir:q} --folder={params.folder:q} --pattern {params.pattern:q} > {log:q} 2>&1"


rule dataset_stats:
    input:
        lambda wc: unfiltered_outputs(wc.dataset),
        manifest=lambda wc: unfiltered_outputs(wc.dataset)[-1],
    output:
        report(
            "results/data/{dataset}/stats.png",
            caption="report/data_stats.rst",
            category="Data",
            subcategory="{dataset}",
        ),
    log:
        "results/logs/data/dataset_stats/{dataset}.log",
    benchmark:
        "results/benchmarks/data/dataset_stats/{dataset}.tsv"
    params:
        plm=PLM,
        split_dir=lambda wc, input: Path(input.manifest).parent,
        code=CODE["data"],
    shell:
        "{params.plm} data stats {params.split_dir:q} {output:q} > {log:q} 2>&1"
