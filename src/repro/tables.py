"""Tables (CSV for machines, Markdown for people, LaTeX for papers) and the scorecard."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from repro.io import atomic_path, write_csv, write_text
from repro.registry import caption_text

SCORECARD_COLUMNS = ["paper", "claim", "reported", "ours", "preset", "verdict", "detail"]
WITHIN, HOLDS, DIFFERS, NOT_RUN = (
    "within tolerance",
    "qualitative claim holds",
    "differs",
    "not run",
)
# A reported number the preset cannot reach by construction (fewer epochs, a smaller
# model or dataset): not a contradiction. The spec's expectation at the preset's own
# scale is scored in a row beside it.
OTHER_SCALE = "other scale"
# A row that rests on a run whose run.json says `diverged`: never "holds" or "within".
DIVERGED = "diverged"
VERDICTS = (WITHIN, HOLDS, DIFFERS, OTHER_SCALE, DIVERGED, NOT_RUN)


def caption(inputs) -> str:
    return caption_text(inputs.caption, inputs.preset, inputs.experiments)


def save(frame: pd.DataFrame, outputs: Iterable[str], caption: str = "") -> None:
    """Write `frame` to each output path by its suffix (.csv, .md, .tex)."""
    for path in outputs:
        suffix = Path(path).suffix
        if suffix == ".csv":
            write_csv(path, frame)
        elif suffix == ".md":
            text = frame.to_markdown(index=False, floatfmt=".4g")
            write_text(path, (f"{caption}\n\n" if caption else "") + text + "\n")
        elif suffix == ".tex":
            with atomic_path(path) as tmp:
                frame.to_latex(
                    tmp, index=False, float_format="%.4g", escape=True, caption=caption or None
                )
        else:
            raise ValueError(f"unknown table format {suffix!r} for {path}")


def verdict_numeric(
    ours: float,
    reported: float,
    tolerance: float,
    comparable: bool = True,
    diverged: bool = False,
) -> str:
    """`within tolerance` if |ours - reported| <= tolerance; otherwise `differs` when the
    preset runs at the paper's setting (`comparable`), else `other scale`. `diverged` when
    a run the number rests on diverged."""
    if diverged:
        return DIVERGED
    if ours is None or not math.isfinite(ours):
        return NOT_RUN
    if abs(ours - reported) <= tolerance:
        return WITHIN
    return DIFFERS if comparable else OTHER_SCALE


def verdict_claim(holds: bool, diverged: bool = False) -> str:
    if diverged:
        return DIVERGED
    return HOLDS if holds else DIFFERS


def score(
    paper: str, claim: str, reported, ours, preset: str, verdict: str, detail: str = ""
) -> dict:
    return {
        "paper": paper,
        "claim": claim,
        "reported": str(reported),
        "ours": str(ours),
        "preset": preset,
        "verdict": verdict,
        "detail": detail,
    }


class Scorecard:
    """The rows of one paper's scorecard, all with the same paper and preset."""

    def __init__(self, paper: str, preset: str):
        self.paper, self.preset = paper, preset
        self.rows: list[dict] = []

    def add(self, claim: str, reported, ours, verdict: str, detail: str = "") -> None:
        if verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r} (one of {VERDICTS})")
        self.rows.append(score(self.paper, claim, reported, ours, self.preset, verdict, detail))


def save_scorecard_rows(rows: list[dict], csv: str) -> None:
    write_csv(csv, pd.DataFrame(rows, columns=SCORECARD_COLUMNS))


def merge_scorecards(paper_csvs: Iterable[str], outputs: Iterable[str]) -> pd.DataFrame:
    frame = pd.concat(
        [pd.read_csv(p, dtype=str, keep_default_na=False) for p in paper_csvs], ignore_index=True
    )
    counts = frame["verdict"].value_counts().to_dict()
    summary = ", ".join(f"{v}: {counts[v]}" for v in VERDICTS if v in counts)
    for path in outputs:
        if path.endswith(".csv"):
            write_csv(path, frame)
        else:
            write_text(
                path,
                "# Scorecard\n\nOne row per number or claim a paper reports "
                f"({summary}).\n\n" + frame.to_markdown(index=False) + "\n",
            )
    return frame
