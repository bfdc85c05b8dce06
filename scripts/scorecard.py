"""Rule scorecard: every paper's rows in one table."""

from repro.logs import log_to
from repro.tables import merge_scorecards

with log_to(snakemake.log[0]):
    merge_scorecards(list(snakemake.input), list(snakemake.output))
