"""Rule train: one experiment x seed of one paper."""

import sys
from pathlib import Path

# Import repro from this checkout, so the rule also works in a bare conda env.
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from repro import runs  # noqa: E402
from repro.logs import log_to  # noqa: E402

run_dir = Path(snakemake.output.record).parent
# the run folder keeps the log of unfinished attempts: Snakemake empties snakemake.log
with log_to(snakemake.log[0], keep=run_dir / "train.log"):
    inputs = dict(snakemake.input.items())
    pca = inputs.pop("pca", None)
    init = inputs.pop("init", None)
    runs.execute(
        snakemake.wildcards.paper,
        snakemake.wildcards.experiment,
        int(snakemake.wildcards.seed),
        snakemake.params.hyperparameters,
        run_dir,
        preset=snakemake.params.preset,
        device=snakemake.params.device,
        manifests=inputs,
        pca=pca,
        init=init,
        threads=snakemake.threads,
        code_digest=snakemake.params.code,
    )
