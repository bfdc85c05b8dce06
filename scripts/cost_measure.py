"""Rule cost_measure: time a few steps of one experiment (first seed) and extrapolate."""

from repro import cost
from repro.io import write_json
from repro.logs import log_to

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
        next_seed=snakemake.params.next_seed,
        log=logger.info,
    )
    write_json(snakemake.output.json, record)
