# forde: input-gradient repulsion ensembles vs deep ensembles (docs/forde.md).
# Its experiments live in config (forde.experiments); its figures, tables and
# scorecard are declared in src/repro/forde/__init__.py.


rule forde:
    input:
        paper_targets("forde"),
    localrule: True
