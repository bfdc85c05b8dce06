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
        "logs/train/{paper}/{experiment}/seed{seed}.log",
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
        hyperparameters=train_hyperparameters,
        preset=config["preset"],
        device=config["device"],
        code=code_digest("train"),
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
