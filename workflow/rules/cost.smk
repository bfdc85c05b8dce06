# Cost before submission (docs/cost.md): `snakemake cost --configfile config/paper.yaml`
# times a few steps of every training experiment on this machine (its first seed, in a
# temporary run folder) and extrapolates each run to its end (src/repro/cost.py).


rule cost_measure:
    input:
        unpack(measure_inputs),
    output:
        json=layout.COST_MEASURE,
    log:
        "logs/cost_measure/{paper}/{experiment}.log",
    conda:
        "../../envs/train.yaml"
    threads: train_resource("threads")
    resources:
        mem_mb=train_resource("mem_mb"),
        gpu=train_resource("gpu"),
        slurm_partition=train_partition,
    params:
        hyperparameters=train_hyperparameters,
        seed=lambda wildcards: experiment_of(wildcards)["seeds"][0],
        # one job for every seed: also time a second seed after the first (repro.cost)
        next_seed=lambda wildcards: (
            experiment_of(wildcards)["seeds"][1:2] or [None]
            if config["train_jobs"] == "per_experiment"
            else [None]
        )[0],
        preset=config["preset"],
        device=config["device"],
        budget=config.get("cost", {}),
    script:
        "../../scripts/cost_measure.py"


rule cost_table:
    input:
        unpack(cost_inputs),
    output:
        csv=layout.COST.format(ext="csv"),
        md=layout.COST.format(ext="md"),
    log:
        "logs/cost_table.log",
    localrule: True
    conda:
        "../../envs/train.yaml"
    params:
        experiments=EXPERIMENTS,
        cores=total_cores,
        preset=config["preset"],
        shared_startup=config["train_jobs"] == "per_experiment",
    script:
        "../../scripts/cost_table.py"


# One paper's runs only: results/tables/cost_<paper>.{csv,md}.
use rule cost_table as cost_table_paper with:
    output:
        csv=layout.PAPER_COST.replace("{ext}", "csv"),
        md=layout.PAPER_COST.replace("{ext}", "md"),
    log:
        "logs/cost_table/{paper}.log",


rule cost:
    input:
        rules.cost_table.output,
    localrule: True
