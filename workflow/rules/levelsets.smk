# levelsets: level-set traversal vs weight decay, Tahir & Katz 2020 (docs/levelsets.md).
# Its experiments live in config (levelsets.experiments); its figures, tables and
# scorecard are declared in src/repro/levelsets/__init__.py.


rule levelsets:
    input:
        paper_targets("levelsets"),
    localrule: True
