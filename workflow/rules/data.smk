# Datasets (download or mirror, checksummed) and their PCA.


rule download_dataset:
    output:
        manifest=layout.DATA_MANIFEST,
    log:
        "logs/download_dataset/{dataset}.log",
    retries: 2
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        mirror=config["data_mirror"],
        datasets_file=config["datasets_file"],
    script:
        "../../scripts/download.py"


rule compute_pca:
    input:
        manifest=layout.DATA_MANIFEST,
    output:
        pca=layout.PCA,
    log:
        "logs/compute_pca/{dataset}.log",
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=pca_mem_mb,
        runtime=30,
        slurm_partition=config["cluster"]["cpu_partition"],
    script:
        "../../scripts/pca.py"
