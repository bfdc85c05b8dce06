"""Rule verify_data: re-verify every downloaded dataset; fail naming any changed file."""

import contextlib
import io
import sys
from pathlib import Path

# Import repro from this checkout, so the rule also works in a bare conda env.
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from repro import data  # noqa: E402
from repro.io import write_text  # noqa: E402

report = io.StringIO()
with contextlib.redirect_stdout(report):
    status = data.main(["verify", "resources/data"])
write_text(snakemake.log[0], report.getvalue())  # in the log, and on the console:
print(report.getvalue(), end="", file=sys.stderr)
if status:
    sys.exit(f"dataset verification failed (also in {snakemake.log[0]})")
