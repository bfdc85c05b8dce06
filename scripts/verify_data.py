"""Rule verify_data: re-verify every downloaded dataset; fail naming any changed file."""

import sys

from repro import data
from repro.logs import log_to

with log_to(snakemake.log[0]) as log:

    def echo(line: str) -> None:
        print(line, flush=True)
        log.info(line)

    status = data.main(["verify", "resources/data"], echo=echo)
if status:
    sys.exit("dataset verification failed: see the lines above")
