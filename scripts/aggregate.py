"""Rule aggregate: all seeds of one experiment -> the per-seed table and its summary."""

from repro import aggregate
from repro.logs import log_to

with log_to(snakemake.log[0]):
    runs = zip(snakemake.input.metrics, snakemake.input.records, strict=True)
    aggregate.write(
        snakemake.wildcards.experiment, runs, snakemake.output.per_seed, snakemake.output.summary
    )
