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
# Presets whose scorecards add the spec's quick-scale expectations (section 5 rows).
QUICK_PRESETS = ("smoke", "quick")
# Why a claim is not run when its experiments are absent from the run's config.
NOT_CONFIGURED = "its experiments are not in this config (not configured, or left out by `only`)"


def caption(inputs) -> str:
    from repro.plotting import diverged_footer

    text = caption_text(inputs.caption, inputs.preset, inputs.experiments)
    diverged = diverged_footer(inputs) if getattr(inputs, "per_seed", None) else ""
    return f"{text} {diverged}." if diverged else text


def diverged_runs(inputs, names=None) -> dict[str, str]:
    """experiment -> "k/n" for the selected experiments (or `names`) with diverged runs."""
    from repro.aggregate import divergence

    out = {}
    for name in names if names is not None else inputs.experiments:
        if name in inputs.per_seed:
            k, n = divergence(inputs.seeds(name))
            if k:
                out[name] = f"{k}/{n}"
    return out


def diverged(inputs, *names: str) -> bool:
    """Whether any run of the experiments `names` diverged (for the `diverged=` argument
    of `verdict_numeric` / `verdict_claim`)."""
    return bool(diverged_runs(inputs, [n for n in names if n in inputs.experiments]))


def mark_diverged(frame: pd.DataFrame, inputs) -> pd.DataFrame:
    """Give a table a `diverged` column ("k/n" runs per row's experiment, "0/n" for
    none) when one of its experiments has diverged runs and it has none yet (a table
    whose rows are not experiments lists them on every row: "de 1/3"); an empty table
    becomes one row per diverged experiment saying so."""
    from repro.aggregate import divergence

    diverged = diverged_runs(inputs)
    if diverged and frame.empty:  # say why the table is empty
        return pd.DataFrame(
            {
                "experiment": list(diverged),
                "diverged": list(diverged.values()),
                "note": "no row: the runs this table compares diverged",
            }
        )
    if not diverged or "diverged" in frame.columns:
        return frame
    if "experiment" not in frame.columns:  # rows are not experiments: name them all
        frame = frame.copy()
        frame["diverged"] = ", ".join(f"{n} {k}" for n, k in diverged.items())
        return frame
    counts = {
        name: "{}/{}".format(*divergence(inputs.seeds(name)))
        for name in inputs.experiments
        if name in inputs.per_seed
    }
    frame = frame.copy()
    frame["diverged"] = frame["experiment"].map(counts).fillna("")
    return frame


def flag_diverged_rows(rows: list[dict], inputs) -> list[dict]:
    """Safety net under every paper's scorecard: a row whose claim or detail names an
    experiment with diverged runs cannot hold or be within tolerance; it becomes
    `diverged` (papers pass `diverged=` to the verdict helpers themselves too)."""
    diverged = diverged_runs(inputs)
    if not diverged:
        return rows
    out = []
    for row in rows:
        text = f"{row.get('claim', '')} {row.get('detail', '')}"
        hit = [n for n in diverged if names_experiment(text, n)]
        if hit and row.get("verdict") in (WITHIN, HOLDS):
            note = "; ".join(f"{n}: {diverged[n]} runs diverged" for n in hit)
            row = {**row, "verdict": DIVERGED, "detail": f"{row.get('detail', '')} [{note}]"}
        out.append(row)
    return out


def names_experiment(text: str, name: str) -> bool:
    """Whether `text` names experiment `name` as a word ("de" is not named by "FoRDE")."""
    import re

    return re.search(rf"(?<![A-Za-z0-9_.-]){re.escape(name)}(?![A-Za-z0-9_-])", text) is not None


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

    def not_run(self, claim: str, reported="-", why: str = "") -> None:
        """A claim whose experiments this run lacks: listed, never silently dropped."""
        self.add(claim, reported, "-", NOT_RUN, why or NOT_CONFIGURED)


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
