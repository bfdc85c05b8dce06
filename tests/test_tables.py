"""repro.tables: verdict rules at their edges, the Scorecard, and the merged scorecard's
summary line (which the smoke workflow test reads back)."""

import math

import pandas as pd
import pytest

from repro import tables


@pytest.mark.parametrize(
    ("ours", "reported", "tol", "comparable", "diverged", "verdict"),
    [
        (1.0, 1.0, 0.0, True, False, tables.WITHIN),
        (1.1, 1.0, 0.1 + 1e-12, True, False, tables.WITHIN),  # the bound is inclusive
        (0.85, 1.0, 0.1, True, False, tables.DIFFERS),
        (1.15, 1.0, 0.1, False, False, tables.OTHER_SCALE),
        (1.0, 1.0, 0.1, True, True, tables.DIVERGED),  # diverged wins over within
        (math.nan, 1.0, 0.1, True, False, tables.NOT_RUN),
        (math.inf, 1.0, 0.1, True, False, tables.NOT_RUN),
        (None, 1.0, 0.1, True, False, tables.NOT_RUN),
    ],
)
def test_verdict_numeric(ours, reported, tol, comparable, diverged, verdict):
    assert tables.verdict_numeric(ours, reported, tol, comparable, diverged) == verdict


def test_verdict_claim():
    assert tables.verdict_claim(True) == tables.HOLDS
    assert tables.verdict_claim(False) == tables.DIFFERS
    assert tables.verdict_claim(True, diverged=True) == tables.DIVERGED


def test_scorecard_rows_and_unknown_verdicts():
    card = tables.Scorecard("toy", "smoke")
    card.add("a number", 1.5, 1.4, tables.WITHIN, "n = 3")
    assert card.rows == [
        {
            "paper": "toy",
            "claim": "a number",
            "reported": "1.5",
            "ours": "1.4",
            "preset": "smoke",
            "verdict": tables.WITHIN,
            "detail": "n = 3",
        }
    ]
    with pytest.raises(ValueError, match="unknown verdict"):
        card.add("x", 1, 1, "fine")


def test_merged_scorecard_counts_verdicts(tmp_path):
    a, b = tables.Scorecard("p1", "smoke"), tables.Scorecard("p2", "smoke")
    a.add("c1", 1, 1, tables.WITHIN)
    a.add("c2", 1, 3, tables.DIFFERS)
    b.add("c3", "-", "-", tables.NOT_RUN)
    b.add("c4", 1, 1, tables.WITHIN)
    paths = []
    for card in (a, b):
        paths.append(str(tmp_path / f"{card.paper}.csv"))
        tables.save_scorecard_rows(card.rows, paths[-1])
    out = [str(tmp_path / "all.csv"), str(tmp_path / "all.md")]
    frame = tables.merge_scorecards(paths, out)
    assert list(frame["claim"]) == ["c1", "c2", "c3", "c4"]
    back = pd.read_csv(out[0], dtype=str, keep_default_na=False)
    assert list(back.columns) == tables.SCORECARD_COLUMNS and len(back) == 4
    text = (tmp_path / "all.md").read_text()
    assert "(within tolerance: 2, differs: 1, not run: 1)" in text


def test_save_writes_each_format(tmp_path):
    frame = pd.DataFrame({"x": [1.23456789, 2.0], "name": ["a_b", "c"]})
    paths = [str(tmp_path / f"t.{ext}") for ext in ("csv", "md", "tex")]
    tables.save(frame, paths, caption="Cap.")
    assert pd.read_csv(paths[0])["x"].tolist() == [1.23456789, 2.0]
    md = (tmp_path / "t.md").read_text()
    assert md.startswith("Cap.\n\n") and "1.235" in md
    tex = (tmp_path / "t.tex").read_text()
    assert r"a\_b" in tex and "Cap." in tex
    with pytest.raises(ValueError, match="unknown table format"):
        tables.save(frame, [str(tmp_path / "t.xls")])
