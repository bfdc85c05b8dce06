"""The house style without seaborn: the same rcParams as seaborn's theme."""

import math

import matplotlib
import pytest
from matplotlib.colors import to_rgb

from repro import plotting


def _rgbs(colors) -> list[float]:
    return [v for c in colors for v in to_rgb(c)]


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9)
    if hasattr(a, "by_key"):  # cycler
        return _rgbs(a.by_key()["color"]) == pytest.approx(_rgbs(b.by_key()["color"]), abs=1e-3)
    return str(a) == str(b)


def test_style_matches_seaborn_theme():
    sns = pytest.importorskip("seaborn")
    try:
        matplotlib.rcdefaults()
        sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.1)
        matplotlib.rcParams.update(plotting.HOUSE)
        expected = dict(matplotlib.rcParams)
        matplotlib.rcdefaults()
        plotting.apply_style()
        ours = dict(matplotlib.rcParams)
    finally:
        matplotlib.rcdefaults()
    expected.pop("image.cmap")  # seaborn's "rocket": not copied (every figure names its cmap)
    ours.pop("image.cmap")
    differing = sorted(k for k in expected if not _same(expected[k], ours[k]))
    assert not differing, {k: (expected[k], ours[k]) for k in differing}


def test_style_colors_are_seaborn_colorblind():
    # seaborn 0.13's "colorblind" palette, first three colours, written out here
    plotting.apply_style()
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"][:3]
    expected = [1, 115, 178, 222, 143, 5, 2, 158, 115]
    assert _rgbs(colors) == pytest.approx([v / 255 for v in expected])
    matplotlib.rcdefaults()


def test_output_jobs_import_neither_torch_nor_seaborn():
    """Figure/table/scorecard/aggregate jobs start light: their modules leave torch and
    seaborn unimported (envs/plot.yaml has no torch; test_envs checks imports in functions)."""
    import subprocess
    import sys

    from tests.conftest import REPO

    papers = sorted(p.name for p in (REPO / "src/repro").iterdir() if (p / "figures.py").exists())
    modules = ["repro.outputs", "repro.plotting", "repro.aggregate", "repro.tables"]
    modules += [f"repro.{p}.{m}" for p in papers for m in ("figures", "tables")]
    code = f"import sys\nfor m in {modules!r}: __import__(m)\n"
    code += "print(sorted({'torch', 'seaborn'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
