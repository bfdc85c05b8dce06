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


def verdict_numeric(ours: float, reported: float, tolerance: float) -> str:
    """`within tolerance` if |ours - reported| <= tolerance, else `differs`."""
    if ours is None or not math.isfinite(ours):
        return NOT_RUN
    return WITHIN if abs(ours - reported) <= tolerance else DIFFERS


def verdict_claim(holds: bool) -> str:
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


def save_scorecard_rows(rows: list[dict], csv: str) -> None:
    write_csv(csv, pd.DataFrame(rows, columns=SCORECARD_COLUMNS))


def merge_scorecards(paper_csvs: Iterable[str], outputs: Iterable[str]) -> pd.DataFrame:
    frame = pd.concat(
        [pd.read_csv(p, dtype=str, keep_default_na=False) for p in paper_csvs], ignore_index=True
    )
    counts = frame["verdict"].value_counts().to_dict()
    summary = ", ".join(
        f"{v}: {counts[v]}" for v in (WITHIN, HOLDS, DIFFERS, NOT_RUN) if v in counts
    )
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
