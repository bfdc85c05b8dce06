"""Rule cost: the per-experiment measurements -> results/tables/cost.{csv,md}."""

import json
from pathlib import Path

from repro import cost
from repro.io import write_csv, write_text
from repro.logs import log_to

with log_to(snakemake.log[0]):
    measurements = [json.loads(Path(p).read_text()) for p in snakemake.input.measurements]
    experiments = {
        (paper, name): experiment
        for paper, block in snakemake.params.experiments.items()
        for name, experiment in block.items()
    }
    frame, totals = cost.table(
        measurements,
        experiments,
        list(snakemake.input.manifests),
        snakemake.params.cores,
        snakemake.params.shared_startup,
    )
    write_csv(snakemake.output.csv, frame)
    md = cost.markdown(frame, totals, snakemake.params.preset, snakemake.params.shared_startup)
    write_text(snakemake.output.md, md)
