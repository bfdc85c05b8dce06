"""Rule table: one table (CSV, Markdown, LaTeX) from the summaries it reports."""

import sys
from pathlib import Path

# Import repro from this checkout, so the rule also works in a bare conda env.
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from repro.logs import log_to  # noqa: E402
from repro.outputs import make_table  # noqa: E402

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
