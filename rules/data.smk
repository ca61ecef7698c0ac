# Data stage: FASTA -> validated, length-filtered token shard -> MMseqs2 clustered split -> statistics figure.
# Every dataset's split shards, manifest and statistics figure.
DATA_TARGETS = [t for name in config["datasets"] for t in (*split_outputs(name), f"results/data/{name}/stats.png")]


rule clean_fasta:
    input:
        fasta=lambda wc: dataset(wc.dataset)["fasta"],
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
        min_length=lambda wc: dataset(wc.dataset)["min_length"],
        max_length=lambda wc: dataset(wc.dataset)["max_length"],
        code=CODE["data"],
    shell:
        "{params.plm} data clean {input.fasta:q} {params.out_dir:q}"
        " --min-length {params.min_length} --max-length {params.max_length} > {log:q} 2>&1"


rule split_dataset:
    input:
        multiext("results/data/{dataset}/clean/all", *SHARD_SUFFIXES),
        summary=rules.clean_fasta.output.summary,
    output:
        multiext("results/data/{dataset}/split/train", *SHARD_SUFFIXES),
        multiext("results/data/{dataset}/split/valid", *SHARD_SUFFIXES),
        multiext("results/data/{dataset}/split/test", *SHARD_SUFFIXES),
        manifest="results/data/{dataset}/split/manifest.json",
    log:
        "results/logs/data/split_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/data/split_dataset/{dataset}.tsv"
    threads: 1
    params:
        plm=PLM,
        clean_dir=lambda wc, input: Path(input.summary).parent,
        out_dir=lambda wc, output: Path(output.manifest).parent,
        s=config["split"],
        code=CODE["data"],
    shell:
        "{params.plm} data split {params.clean_dir:q} {params.out_dir:q} --dataset {wildcards.dataset:q}"
        " --identity {params.s[identity]} --coverage {params.s[coverage]} --cov-mode {params.s[cov_mode]}"
        " --cluster-mode {params.s[cluster_mode]} --sensitivity {params.s[sensitivity]}"
        " --valid {params.s[valid]} --test {params.s[test]} --seed {params.s[seed]} --threads {threads}"
        " > {log:q} 2>&1"


rule dataset_stats:
    input:
        split_outputs("{dataset}"),
        manifest=rules.split_dataset.output.manifest,
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
