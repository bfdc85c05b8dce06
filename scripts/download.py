"""Rule download_dataset: make a dataset present and verified; write its manifest."""

from pathlib import Path

from repro import data
from repro.logs import log_to

with log_to(snakemake.log[0]) as log:
    data.fetch(
        snakemake.wildcards.dataset,
        Path(snakemake.output.manifest).parent,
        mirror=snakemake.params.mirror,
        log=log.info,
        datasets_file=snakemake.params.datasets_file,
    )
