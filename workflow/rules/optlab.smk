# optlab: PC lab 2, initialization and optimizers (docs/optlab.md).
# Its experiments live in config (optlab.experiments); its figures, tables and
# scorecard are declared in src/repro/optlab/__init__.py.


rule optlab:
    input:
        paper_targets("optlab"),
    localrule: True
