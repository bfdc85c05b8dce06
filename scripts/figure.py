"""Rule figure: one figure (PNG + PDF) from the summaries it plots."""

import sys
from pathlib import Path

# Import repro from this checkout, so the rule also works in a bare conda env.
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from repro.logs import log_to  # noqa: E402
from repro.outputs import make_figure  # noqa: E402

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
