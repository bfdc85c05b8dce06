"""Kill rate per module from mutmut's results (mutants/**/*.meta), as a Markdown table.

    python scripts/mutation_report.py [--survivors] [module-or-mutant-prefix ...]

Killed = the fast suite failed (or timed out: timeouts are listed apart, since on a
loaded machine a slow clean test can time out too). "No tests" mutants are in code no
test of the selection reaches: they count as survivors. Not-yet-checked mutants are
left out of the rate and counted in their own column.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

KILLED, TIMEOUT, SURVIVED, NO_TESTS, NOT_CHECKED = (
    "killed",
    "timeout",
    "survived",
    "no tests",
    "not checked",
)


def status(code) -> str:
    if code is None:
        return NOT_CHECKED
    if code in (1, 3):
        return KILLED
    if code in (36, -24, 24, 152, 255):
        return TIMEOUT
    if code == 0:
        return SURVIVED
    if code in (5, 33):
        return NO_TESTS
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="only mutants whose name starts so")
    parser.add_argument("--survivors", action="store_true", help="list surviving mutants")
    parser.add_argument("--root", default="mutants", help="mutmut's work directory")
    args = parser.parse_args()
    rows, survivors = {}, []
    for meta in sorted(Path(args.root).rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in codes.items():
            if args.prefixes and not any(name.startswith(p) for p in args.prefixes):
                continue
            module = name.split(".x", 1)[0]
            rows.setdefault(module, Counter())[status(code)] += 1
            if status(code) in (SURVIVED, NO_TESTS):
                survivors.append(f"{name} ({status(code)})")
    print("| module | mutants | killed | timeout | survived | no tests | not checked | kill rate |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for module, c in sorted(rows.items()):
        checked = c[KILLED] + c[TIMEOUT] + c[SURVIVED] + c[NO_TESTS]
        rate = f"{(c[KILLED] + c[TIMEOUT]) / checked:.0%}" if checked else "-"
        print(
            f"| {module} | {sum(c.values())} | {c[KILLED]} | {c[TIMEOUT]} | {c[SURVIVED]} "
            f"| {c[NO_TESTS]} | {c[NOT_CHECKED]} | {rate} |"
        )
    if args.survivors:
        print("\nSurvivors (inspect with `mutmut show NAME`):")
        for name in survivors:
            print(f"- {name}")


if __name__ == "__main__":
    main()
