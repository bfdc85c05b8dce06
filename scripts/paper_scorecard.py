"""Rule paper_scorecard: one row per number or claim a paper reports."""

from repro.logs import log_to
from repro.outputs import make_scorecard

with log_to(snakemake.log[0]):
    make_scorecard(
        snakemake.wildcards.paper,
        snakemake.params.experiments,
        snakemake.params.preset,
        snakemake.input.summaries,
        snakemake.input.per_seed,
        snakemake.input.get("artifacts", []),
        snakemake.output.csv,
    )
