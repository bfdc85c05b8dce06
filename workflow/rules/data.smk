# Datasets (download or mirror, checksummed) and their PCA.


rule download_dataset:
    output:
        manifest=layout.DATA_MANIFEST,
    log:
        "logs/download_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/download_dataset/{dataset}.tsv"
    # no `retries`: a checksum error is deterministic; repro.data retries network errors
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        mirror=config["data_mirror"],
    script:
        "../../scripts/download.py"


rule compute_pca:
    input:
        manifest=layout.DATA_MANIFEST,
    output:
        pca=layout.PCA,
    log:
        "logs/compute_pca/{dataset}.log",
    benchmark:
        "results/benchmarks/compute_pca/{dataset}.tsv"
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=pca_mem_mb,
        runtime=30,
        slurm_partition=config["cluster"]["cpu_partition"],
    script:
        "../../scripts/pca.py"


# `snakemake verify_data`: re-check every downloaded dataset against its manifest
# (names each changed or missing file; the same as `python -m repro.data verify`).
rule verify_data:
    log:
        "logs/verify_data.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    script:
        "../../scripts/verify_data.py"
