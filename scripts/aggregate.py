"""Rule aggregate: all seeds of one experiment -> one tidy summary."""

import sys
from pathlib import Path

# Import repro from this checkout, so the rule also works in a bare conda env.
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from repro.aggregate import summarize  # noqa: E402
from repro.io import write_csv  # noqa: E402
from repro.logs import log_to  # noqa: E402

with log_to(snakemake.log[0]):
    runs = zip(snakemake.input.metrics, snakemake.input.records, strict=True)
    write_csv(snakemake.output.summary, summarize(snakemake.wildcards.experiment, runs))
