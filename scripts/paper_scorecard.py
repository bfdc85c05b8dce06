"""Rule paper_scorecard: one row per number or claim a paper reports."""

import sys
from pathlib import Path

# Import repro from this checkout, so the rule also works in a bare conda env.
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from repro.logs import log_to  # noqa: E402
from repro.outputs import make_scorecard  # noqa: E402

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
