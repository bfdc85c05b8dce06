"""Rule table: one table (CSV, Markdown, LaTeX) from the summaries it reports."""

from repro.logs import log_to
from repro.outputs import make_table

with log_to(snakemake.log[0]):
    make_table(
        snakemake.wildcards.paper,
        snakemake.wildcards.table,
        snakemake.params.experiments,
        snakemake.params.preset,
        snakemake.input.summaries,
        snakemake.input.per_seed,
        snakemake.input.get("artifacts", []),
        list(snakemake.output),
    )
