# Data stage: FASTA -> validated, length-filtered token shard -> MMseqs2 clustered split -> statistics figure.


rule clean_fasta:
    input:
        fasta=lambda wc: dataset(wc.dataset)["fasta"],
    output:
        multiext("results/data/{dataset}/clean/all", *SHARD_EXT),
        summary="results/data/{dataset}/clean/clean.json",
    params:
        plm=PLM,
        out_dir=lambda wc, output: Path(output.summary).parent,
        min_length=lambda wc: dataset(wc.dataset)["min_length"],
        max_length=lambda wc: dataset(wc.dataset)["max_length"],
        code=CODE["data"],
    conda:
        "../envs/plm-scaling.yaml"
    log:
        "results/logs/data/clean_fasta/{dataset}.log",
    benchmark:
        "results/benchmarks/data/clean_fasta/{dataset}.tsv"
    shell:
        "{params.plm} data clean {input.fasta:q} {params.out_dir:q}"
        " --min-length {params.min_length} --max-length {params.max_length} > {log:q} 2>&1"


rule split_dataset:
    input:
        multiext("results/data/{dataset}/clean/all", *SHARD_EXT),
        summary=rules.clean_fasta.output.summary,
    output:
        multiext("results/data/{dataset}/split/train", *SHARD_EXT),
        multiext("results/data/{dataset}/split/valid", *SHARD_EXT),
        multiext("results/data/{dataset}/split/test", *SHARD_EXT),
        manifest="results/data/{dataset}/split/manifest.json",
    params:
        plm=PLM,
        clean_dir=lambda wc, input: Path(input.summary).parent,
        out_dir=lambda wc, output: Path(output.manifest).parent,
        s=config["split"],
        code=CODE["data"],
    conda:
        "../envs/plm-scaling.yaml"
    log:
        "results/logs/data/split_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/data/split_dataset/{dataset}.tsv"
    threads: 1
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
    params:
        plm=PLM,
        split_dir=lambda wc, input: Path(input.manifest).parent,
        code=CODE["data"],
    conda:
        "../envs/plm-scaling.yaml"
    log:
        "results/logs/data/dataset_stats/{dataset}.log",
    benchmark:
        "results/benchmarks/data/dataset_stats/{dataset}.tsv"
    shell:
        "{params.plm} data stats {params.split_dir:q} {output:q} > {log:q} 2>&1"
