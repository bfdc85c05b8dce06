"""Rule compute_pca: PCA of a dataset's training images."""

import sys
from pathlib import Path

# Import repro from this checkout, so the rule also works in a bare conda env.
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from repro import pca  # noqa: E402
from repro.logs import log_to  # noqa: E402

with log_to(snakemake.log[0]) as log:
    result, meta = pca.dataset_pca(snakemake.input.manifest)
    pca.save(result, snakemake.output.pca, **meta)
    log.info("PCA of %d dimensions written to %s", result.mean.size, snakemake.output.pca)
