"""Rule cost: the per-experiment measurements -> results/tables/cost.{csv,md}."""

import json
import sys
from pathlib import Path

# Import repro from this checkout, so the rule also works in a bare conda env.
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from repro import cost  # noqa: E402
from repro.io import write_csv, write_text  # noqa: E402
from repro.logs import log_to  # noqa: E402

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
    )
    write_csv(snakemake.output.csv, frame)
    write_text(snakemake.output.md, cost.markdown(frame, totals, snakemake.params.preset))
