# eqprop: scaling equilibrium propagation to deep ConvNets (docs/eqprop.md).
# Its experiments live in config (eqprop.experiments); its figures, tables and
# scorecard are declared in src/repro/eqprop/__init__.py.


rule eqprop:
    input:
        paper_targets("eqprop"),
    localrule: True
