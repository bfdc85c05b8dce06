# The rules every paper shares: train one experiment x seed, summarise over seeds, and
# draw figures / write tables / score claims from the summaries. `{paper}` selects the
# paper's subpackage (src/repro/<paper>/) and its config block.


rule train:
    input:
        unpack(train_inputs),
    output:
        metrics=layout.RUN_METRICS,
        record=layout.RUN_RECORD,
        artifacts=layout.RUN_ARTIFACTS,
    log:
        layout.TRAIN_LOG,
    benchmark:
        "results/benchmarks/train/{paper}/{experiment}/seed{seed}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: train_resource("threads")
    resources:
        mem_mb=train_resource("mem_mb", grows_with_attempt=True),
        runtime=train_resource("runtime", grows_with_attempt=True),
        gpu=train_resource("gpu"),
        slurm_partition=train_partition,
    params:
        paper="{paper}",
        experiment="{experiment}",
        seeds=seed_of,
        hyperparameters=train_hyperparameters,
        preset=config["preset"],
        device=config["device"],
        code=code_digest("train"),
    script:
        "../../scripts/train.py"


# `train_jobs: per_experiment` (quick, smoke): one job per experiment trains all its seeds
# in one process (runs of seconds, where importing torch costs as much as training).
# The same run folders as `train`, which Snakemake does not use for them: it prefers a
# rule without wildcards. A failed seed reruns the experiment's seeds.
for _paper, _name in grouped_experiments():

    rule:
        name:
            layout.train_rule(_paper, _name)
        input:
            **run_inputs(_paper, _name, EXPERIMENTS[_paper][_name]["seeds"]),
        output:
            metrics=run_files(_paper, _name, layout.RUN_METRICS),
            record=run_files(_paper, _name, layout.RUN_RECORD),
            artifacts=run_files(_paper, _name, layout.RUN_ARTIFACTS),
        log:
            layout.GROUP_TRAIN_LOG.format(paper=_paper, experiment=_name),
        benchmark:
            f"results/benchmarks/train/{_paper}/{_name}/seeds.tsv"
        conda:
            "../../envs/train.yaml"
        threads: EXPERIMENTS[_paper][_name]["resources"]["threads"]
        resources:
            mem_mb=train_resource("mem_mb", True, _paper, _name),
            runtime=train_resource("runtime", True, _paper, _name),
            gpu=EXPERIMENTS[_paper][_name]["resources"]["gpu"],
            slurm_partition=experiment_partition(_paper, _name),
        params:
            paper=_paper,
            experiment=_name,
            seeds=EXPERIMENTS[_paper][_name]["seeds"],
            hyperparameters=hyperparameters(EXPERIMENTS[_paper][_name]),
            preset=config["preset"],
            device=config["device"],
            code=code_digest("train", _paper),
        script:
            "../../scripts/train.py"


rule aggregate:
    input:
        unpack(aggregate_inputs),
    output:
        summary=layout.SUMMARY,
        per_seed=layout.PER_SEED,
    log:
        "logs/aggregate/{paper}/{experiment}.log",
    benchmark:
        "results/benchmarks/aggregate/{paper}/{experiment}.tsv"
    localrule: True
    conda:
        "../../envs/plot.yaml"
    params:
        code=code_digest("aggregate"),
    script:
        "../../scripts/aggregate.py"


rule figure:
    input:
        unpack(figure_inputs),
    output:
        png=report(
            "results/figures/{paper}/{figure}.png",
            caption="../report/output.rst",
            category="{paper}",
            subcategory="figures",
            labels={"paper": "{paper}", "output": "{figure}"},
        ),
        pdf="results/figures/{paper}/{figure}.pdf",
    log:
        "logs/figure/{paper}/{figure}.log",
    benchmark:
        "results/benchmarks/figure/{paper}/{figure}.tsv"
    localrule: True
    conda:
        "../../envs/plot.yaml"
    params:
        experiments=figure_experiments,
        preset=config["preset"],
        caption=figure_caption,
        code=code_digest("figure"),
    script:
        "../../scripts/figure.py"


rule table:
    input:
        unpack(table_inputs),
    output:
        csv=report(
            "results/tables/{paper}/{table}.csv",
            caption="../report/output.rst",
            category="{paper}",
            subcategory="tables",
            labels={"paper": "{paper}", "output": "{table}"},
        ),
        md="results/tables/{paper}/{table}.md",
        tex="results/tables/{paper}/{table}.tex",
    log:
        "logs/table/{paper}/{table}.log",
    benchmark:
        "results/benchmarks/table/{paper}/{table}.tsv"
    localrule: True
    conda:
        "../../envs/plot.yaml"
    params:
        experiments=table_experiments,
        preset=config["preset"],
        caption=table_caption,
        code=code_digest("table"),
    script:
        "../../scripts/table.py"


rule paper_scorecard:
    input:
        unpack(scorecard_inputs),
    output:
        csv=layout.PAPER_SCORECARD,
    log:
        "logs/paper_scorecard/{paper}.log",
    benchmark:
        "results/benchmarks/paper_scorecard/{paper}.tsv"
    localrule: True
    conda:
        "../../envs/plot.yaml"
    params:
        experiments=scorecard_experiments,
        preset=config["preset"],
        code=code_digest("scorecard"),
    script:
        "../../scripts/paper_scorecard.py"


rule scorecard:
    input:
        expand(layout.PAPER_SCORECARD, paper=PAPERS),
    output:
        csv=report(
            "results/tables/scorecard.csv",
            caption="../report/scorecard.rst",
            category="scorecard",
        ),
        md="results/tables/scorecard.md",
    log:
        "logs/scorecard.log",
    benchmark:
        "results/benchmarks/scorecard/scorecard.tsv"
    localrule: True
    conda:
        "../../envs/plot.yaml"
    script:
        "../../scripts/scorecard.py"
