"""Rule train: one experiment x seed of one paper."""

import sys
from pathlib import Path

# Import repro from this checkout, so the rule also works in a bare conda env.
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from repro import runs  # noqa: E402
from repro.logs import log_to  # noqa: E402

with log_to(snakemake.log[0]):
    inputs = dict(snakemake.input.items())
    pca = inputs.pop("pca", None)
    init = inputs.pop("init", None)
    runs.execute(
        snakemake.wildcards.paper,
        snakemake.wildcards.experiment,
        int(snakemake.wildcards.seed),
        snakemake.params.hyperparameters,
        Path(snakemake.output.record).parent,
        preset=snakemake.params.preset,
        device=snakemake.params.device,
        manifests=inputs,
        pca=pca,
        init=init,
        threads=snakemake.threads,
    )
