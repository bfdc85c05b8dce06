# enkf: Yegenoglu et al. 2020, EnKF training of a small MNIST ConvNet (docs/enkf.md).
# Its experiments live in config (enkf.experiments); its figures, table and scorecard
# are declared in src/repro/enkf/__init__.py.


rule enkf:
    input:
        paper_targets("enkf"),
    localrule: True
