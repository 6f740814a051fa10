"""Deterministic PNG plots: capture curves, calibration, PAI per period, feature importance.

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot, no global backend
state), at a fixed size and dpi, and saved without the ``Software`` metadata entry, so the same
inputs give byte-identical files. Each file is written to a temporary name next to the target and
renamed over it; parent folders are created.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from beatwise.io import atomic_path
from beatwise.period import Period, period_words
from models.metrics import CalibrationTable

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

FIGSIZE_IN: tuple[float, float] = (7.0, 4.5)
DPI: int = 100
#: Curves drawn with a fixed style; any other name is a baseline (thin line, colour cycle).
_MODEL, _ORACLE, _TRUTH = "model", "oracle", "truth"


def _new_figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=FIGSIZE_IN, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    return fig, ax


def _save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically, without time- or version-dependent metadata."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    logger.info("wrote %s (%d bytes)", path, path.stat().st_size)
    return path


def _as_1d(name: str, values: npt.ArrayLike, *, size: int | None = None) -> npt.NDArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D. Got shape {arr.shape}.")
    if size is not None and arr.size != size:
        raise ValueError(f"{name} must have {size} values (one per point). Got {arr.size}.")
    return arr


def plot_capture_curves(
    coverages: npt.ArrayLike,
    curves: Mapping[str, npt.ArrayLike],
    path: Path,
    *,
    headline_coverage: float = 0.05,
    period: Period = "week",
    title: str | None = None,
) -> Path:
    """Pooled hit rate against coverage for the model, baselines, oracle and truth.

    Parameters
    ----------
    coverages : (K,) array_like
        Coverage grid, shares of the study area in [0, 1] (for example
        ``metrics.capture_curve(...).coverages``).
    curves : mapping of str to (K,) array_like
        Pooled hit rate per curve. The names ``"model"``, ``"oracle"`` and ``"truth"`` get fixed
        styles; every other name is drawn as a baseline. Drawn in the mapping's order.
    path : Path
        Output PNG.
    headline_coverage : float
        Marked with a vertical line.
    period : {"week", "month"}
        The backtest's period, for the default title.
    title : str, optional
        Default: "Capture curves over the backtest weeks" (or months).

    Returns
    -------
    Path
        ``path``.
    """
    ks = _as_1d("coverages", coverages)
    if not curves:
        raise ValueError("curves must hold at least one named curve. Got none.")
    fig, ax = _new_figure()
    palette = [f"C{i}" for i in range(10)]
    n_base = 0
    for name, values in curves.items():
        hr = _as_1d(f"curves[{name!r}]", values, size=ks.size)
        if name == _MODEL:
            ax.plot(ks * 100, hr, color="black", lw=2.2, label="model", zorder=5)
        elif name == _ORACLE:
            ax.plot(ks * 100, hr, color="grey", lw=1.5, ls="--", label="oracle (realised counts)")
        elif name == _TRUTH:
            ax.plot(ks * 100, hr, color="grey", lw=1.5, ls=":", label="truth (expected counts)")
        else:
            ax.plot(ks * 100, hr, color=palette[n_base % 10], lw=1.0, label=name)
            n_base += 1
    ax.axvline(
        headline_coverage * 100,
        color="red",
        lw=0.8,
        alpha=0.6,
        label=f"operational coverage ({headline_coverage * 100:g}% of the area)",
    )
    ax.set_xlabel("coverage: share of study area flagged (%)")
    ax.set_ylabel("hit rate: share of events captured")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 1.02)
    ax.set_title(title or f"Capture curves over the backtest {period_words(period).plural}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _save(fig, path)


def plot_calibration_by_decile(
    table: CalibrationTable,
    path: Path,
    *,
    period: Period = "week",
    title: str = "Calibration by decile of the score",
) -> Path:
    """Observed against expected events per cell-period, one point per decile of the score.

    Parameters
    ----------
    table : CalibrationTable
        From :func:`models.metrics.calibration_by_decile`; empty deciles are left out.
    path : Path
        Output PNG.
    period : {"week", "month"}
        The period of the cells' counts, for the axis labels (events per cell-week or -month).
    """
    unit = f"cell-{period_words(period).singular}"
    exp = _as_1d("table.expected_mean", table.expected_mean)
    obs = _as_1d("table.observed_mean", table.observed_mean, size=exp.size)
    keep = np.isfinite(exp) & np.isfinite(obs)
    fig, ax = _new_figure()
    top = 1.05 * float(max(exp[keep].max(initial=0.0), obs[keep].max(initial=0.0)))
    if top <= 0:
        top = 1.0
    ax.plot([0, top], [0, top], color="grey", lw=1, ls="--", label="observed = expected")
    ax.plot(exp[keep], obs[keep], "o-", color="black", ms=4, label="decile of score")
    for d, x, y in zip(table.decile[keep], exp[keep], obs[keep], strict=True):
        ax.annotate(str(int(d)), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlabel(f"expected events per {unit} (mean score)")
    ax.set_ylabel(f"observed events per {unit}")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return _save(fig, path)


def plot_period_pai(
    period_starts: Sequence[object] | npt.ArrayLike,
    pai_model: npt.ArrayLike,
    pai_baseline: npt.ArrayLike,
    path: Path,
    *,
    baseline_name: str,
    coverage: float = 0.05,
    period: Period = "week",
) -> Path:
    """PAI at one coverage per backtest period, for the model and the best baseline.

    Parameters
    ----------
    period_starts : (W,) array_like
        Period starts (``datetime64``) or any labels in time order.
    pai_model, pai_baseline : (W,) array_like
        PAI per period (``models.metrics.pai(...).weekly``); NaN periods (no events) are gaps.
    path : Path
        Output PNG.
    baseline_name : str
        Legend label of the baseline.
    coverage : float
        Coverage of the PAI, for the title.
    period : {"week", "month"}
        The period, for the title and axis label ("PAI@5% per backtest month").
    """
    singular = period_words(period).singular
    starts = np.asarray(period_starts)
    if starts.ndim != 1:
        raise ValueError(f"period_starts must be 1-D. Got shape {starts.shape}.")
    if starts.dtype.kind == "O":
        # A list of pandas Timestamps or datetimes: plot on a date axis when they convert.
        try:
            starts = starts.astype("datetime64[ns]")
        except (TypeError, ValueError):
            starts = starts.astype(str)
    model = _as_1d("pai_model", pai_model, size=starts.size)
    base = _as_1d("pai_baseline", pai_baseline, size=starts.size)
    x = starts if starts.dtype.kind == "M" else np.arange(starts.size)
    fig, ax = _new_figure()
    ax.plot(x, model, "o-", color="black", ms=3, lw=1.5, label="model")
    ax.plot(x, base, "s-", color="C0", ms=3, lw=1.0, label=baseline_name)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    index = "" if starts.dtype.kind == "M" else " index"
    ax.set_xlabel(f"backtest {singular}{index}")
    ax.set_ylabel(f"PAI at {coverage * 100:g}% of area")
    ax.set_title(f"PAI@{coverage * 100:g}% per backtest {singular}: model and best baseline")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if starts.dtype.kind == "M":
        fig.autofmt_xdate()
    fig.tight_layout()
    return _save(fig, path)


def plot_feature_importance(importance: pd.DataFrame, path: Path, *, top_n: int = 25) -> Path:
    """Horizontal bars of gain importance for the ``top_n`` most important features.

    Parameters
    ----------
    importance : DataFrame
        Columns ``feature`` (str) and ``gain`` (float, total split gain), as returned by
        ``models.risk_model.feature_importance`` (descending gain, ties by name).
    path : Path
        Output PNG.
    top_n : int
        Number of features shown (the rest are left out, and the title says so).
    """
    if top_n < 1:
        raise ValueError(f"top_n must be >= 1. Got {top_n}.")
    missing = {"feature", "gain"} - set(importance.columns)
    if missing:
        raise ValueError(
            f"importance must have columns 'feature' and 'gain'. Missing {sorted(missing)}."
        )
    names = [str(f) for f in importance["feature"]][:top_n]
    gain = _as_1d("importance['gain']", importance["gain"].to_numpy())[:top_n]
    share = gain / gain.sum() if gain.sum() > 0 else gain
    fig = Figure(figsize=(7.0, max(2.5, 0.25 * len(names) + 1.0)), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(names))[::-1]
    ax.barh(y, share, color="C0")
    ax.set_yticks(y, names, fontsize=7)
    ax.set_xlabel("share of gain among the features shown")
    shown = f"top {len(names)} of {len(importance)}" if len(importance) > len(names) else "all"
    ax.set_title(f"Feature importance (gain), {shown} features")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
