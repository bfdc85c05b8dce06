"""repro: the library behind the five-paper Snakemake reproduction pipeline.

Importing this package (and `repro.config`, `repro.layout`, `repro.registry`, or a
paper's top-level module) must stay cheap: the Snakefile imports them at parse time.
Torch is imported only inside training code.
"""

__version__ = "0.1.0"
