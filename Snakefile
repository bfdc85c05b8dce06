# Five ML papers reproduced end to end. See README.md; the design is in docs/architecture.md.
#   snakemake --cores all                            quick preset (config/config.yaml)
#   snakemake --cores all all --configfile config/paper.yaml   papers' own scale
#   snakemake results/figures/optlab/O2.png          one figure and only what it needs
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/runs.smk"
include: "workflow/rules/cost.smk"


# Each configured paper brings workflow/rules/<paper>.smk (its target rule).
for paper in PAPERS:

    include: f"workflow/rules/{paper}.smk"


rule all:
    default_target: True
    input:
        all_figures(),
        all_tables(),
    localrule: True


rule all_figures:
    input:
        all_figures(),
    localrule: True


rule all_tables:
    input:
        all_tables(),
    localrule: True
