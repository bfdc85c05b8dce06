"""Rule aggregate: all seeds of one experiment -> the per-seed table and its summary."""

import sys
from pathlib import Path

# Import repro from this checkout, so the rule also works in a bare conda env.
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from repro import aggregate  # noqa: E402
from repro.logs import log_to  # noqa: E402

with log_to(snakemake.log[0]):
    runs = zip(snakemake.input.metrics, snakemake.input.records, strict=True)
    aggregate.write(
        snakemake.wildcards.experiment, runs, snakemake.output.per_seed, snakemake.output.summary
    )
