"""Rule verify_data: re-verify every downloaded dataset; fail naming any changed file."""

import sys
from pathlib import Path

# Import repro from this checkout, so the rule also works in a bare conda env.
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from repro import data  # noqa: E402
from repro.logs import log_to  # noqa: E402

with log_to(snakemake.log[0]) as log:

    def echo(line: str) -> None:
        print(line, flush=True)
        log.info(line)

    status = data.main(["verify", "resources/data"], echo=echo)
if status:
    sys.exit("dataset verification failed: see the lines above")
