"""Rules train (one experiment x seed) and train_<paper>_<experiment> (every seed of one
experiment in one process, `train_jobs: per_experiment`): the same runs either way."""

from pathlib import Path

from repro import runs
from repro.logs import exit_without_teardown, kept_attempts, log_to


def as_list(value):
    return [value] if isinstance(value, str) else list(value)


inputs = dict(snakemake.input.items())
pca = inputs.pop("pca", None)
inits = as_list(inputs.pop("init", []))
records = as_list(snakemake.output.record)
with log_to(snakemake.log[0]):
    for k, (seed, record) in enumerate(zip(snakemake.params.seeds, records, strict=True)):
        run_dir = Path(record).parent
        # the run folder keeps the log of unfinished attempts: Snakemake empties the log
        with kept_attempts(snakemake.log[0], run_dir / "train.log"):
            runs.execute(
                snakemake.params.paper,
                snakemake.params.experiment,
                seed,
                snakemake.params.hyperparameters,
                run_dir,
                preset=snakemake.params.preset,
                device=snakemake.params.device,
                manifests=inputs,
                pca=pca,
                init=inits[k] if inits else None,
                threads=snakemake.threads,
                code_digest=snakemake.params.code,
            )
exit_without_teardown()  # every run is saved: skip torch's ~0.3 CPU-s teardown
