"""Rule compute_pca: PCA of a dataset's training images."""

from repro import pca
from repro.logs import log_to

with log_to(snakemake.log[0]) as log:
    result, meta = pca.dataset_pca(snakemake.input.manifest)
    pca.save(result, snakemake.output.pca, **meta)
    log.info("PCA of %d dimensions written to %s", result.mean.size, snakemake.output.pca)
