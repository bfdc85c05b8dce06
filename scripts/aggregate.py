"""Rule aggregate: all seeds of one experiment -> the per-seed table and its summary."""

import sys
from pathlib import Path

# Import repro from this checkout, so the rule also works in a bare conda env.
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from repro.aggregate import per_seed, summarize_per_seed  # noqa: E402
from repro.io import write_csv  # noqa: E402
from repro.logs import log_to  # noqa: E402

with log_to(snakemake.log[0]):
    runs = zip(snakemake.input.metrics, snakemake.input.records, strict=True)
    table = per_seed(snakemake.wildcards.experiment, runs)
    write_csv(snakemake.output.per_seed, table)
    write_csv(snakemake.output.summary, summarize_per_seed(table))
