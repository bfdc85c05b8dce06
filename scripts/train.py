"""Rule train: one experiment x seed of one paper."""

from pathlib import Path

from repro import runs
from repro.logs import log_to

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
