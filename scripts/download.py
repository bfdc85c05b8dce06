"""Rule download_dataset: make a dataset present and verified; write its manifest."""

import sys
from pathlib import Path

# Import repro from this checkout, so the rule also works in a bare conda env.
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from repro import data  # noqa: E402
from repro.logs import log_to  # noqa: E402

with log_to(snakemake.log[0]) as log:
    data.fetch(
        snakemake.wildcards.dataset,
        Path(snakemake.output.manifest).parent,
        mirror=snakemake.params.mirror,
        log=log.info,
        datasets_file=snakemake.params.datasets_file,
    )
