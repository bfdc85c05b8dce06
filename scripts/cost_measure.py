"""Rule cost_measure: time a few steps of one experiment (first seed) and extrapolate."""

import sys
from pathlib import Path

# Import repro from this checkout, so the rule also works in a bare conda env.
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from repro import cost  # noqa: E402
from repro.io import write_json  # noqa: E402
from repro.logs import log_to  # noqa: E402

with log_to(snakemake.log[0]) as logger:
    inputs = dict(snakemake.input.items())
    pca = inputs.pop("pca", None)
    record = cost.measure(
        snakemake.wildcards.paper,
        snakemake.wildcards.experiment,
        snakemake.params.seed,
        snakemake.params.hyperparameters,
        preset=snakemake.params.preset,
        device=snakemake.params.device,
        manifests=inputs,
        pca=pca,
        threads=snakemake.threads,
        budget=snakemake.params.budget,
        log=logger.info,
    )
    write_json(snakemake.output.json, record)
