"""Rule scorecard: every paper's rows in one table."""

import sys
from pathlib import Path

# Import repro from this checkout, so the rule also works in a bare conda env.
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from repro.logs import log_to  # noqa: E402
from repro.tables import merge_scorecards  # noqa: E402

with log_to(snakemake.log[0]):
    merge_scorecards(list(snakemake.input), list(snakemake.output))
