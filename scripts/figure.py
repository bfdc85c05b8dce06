"""Rule figure: one figure (PNG + PDF) from the summaries it plots."""

from repro.logs import log_to
from repro.outputs import make_figure

with log_to(snakemake.log[0]):
    make_figure(
        snakemake.wildcards.paper,
        snakemake.wildcards.figure,
        snakemake.params.experiments,
        snakemake.params.preset,
        snakemake.input.summaries,
        snakemake.input.per_seed,
        snakemake.input.get("artifacts", []),
        snakemake.output.png,
        snakemake.output.pdf,
    )
