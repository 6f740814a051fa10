"""Measures of a closed-loop simulation: does the forecast feed on itself? (METRICS.md, G11)

The loop (``models.feedback.loop``) runs each seed twice on the same city: *closed* (patrol follows
the flags, and recording answers patrol) and *open* (patrol never answers the flags). From each
run's weekly flags, true committed harm and recorded events, per cell, this module computes the
typed records of ``reports/feedback.json`` (:mod:`beatwise.artefacts.feedback`):

- per group of cells (districts, and the audit's resident groups weighted by each cell's share of
  them), ``R = flag share / harm share`` over a trailing window of weeks, in each loop, and the
  *drift* ``R closed / R open`` paired by seed; its trend over the second half of the run; and the
  gate outcome against the amplification band;
- how concentrated cumulative flags and harm are over cells (Gini), and the share of flags outside
  the cells of highest true risk;
- events recorded in flagged cells, closed over open.

Ratios are summarised over seeds by their geometric mean with a t-interval on the logs; other
figures by their arithmetic mean with a t-interval on the values. Everything is pure numpy: sums
over cells are matrix products, windows are over the (small) ``[week, group]`` tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from beatwise.artefacts.audit import GateStatus
from beatwise.artefacts.feedback import (
    Concentration,
    GroupDrift,
    GroupKind,
    SeedInterval,
    WeeklySeries,
)
from models.audit._arrays import cell_column, safe_div
from models.audit._config import AttributeSpec

FloatArray = npt.NDArray[np.float64]

#: district names that are not districts: cells outside every area, or a source without areas
_NOT_DISTRICTS = frozenset({"outside areas", "unknown"})
_INSUFFICIENT: GateStatus = "INSUFFICIENT DATA"
#: how bad each judged outcome is, for the scenario's worst
_SEVERITY: dict[GateStatus, int] = {"PASS": 0, "REVIEW": 1, "FAIL": 2}


@dataclass(frozen=True)
class GroupSet:
    """The groups of cells the loop is judged on: districts first, then the audit's resident groups.

    ``weights[c, g]`` is the share of cell ``c`` that belongs to group ``g``: 0 or 1 for a district
    (the cell's ``district_name``), ``P_gc / residents_c`` for a resident group (0 where the cell
    has no residents). ``residents[g]`` counts the group's residents (a district: its cells').
    """

    keys: tuple[str, ...]
    labels: tuple[str, ...]
    kinds: tuple[GroupKind, ...]
    attributes: tuple[str, ...]
    residents: FloatArray
    weights: FloatArray

    def __post_init__(self) -> None:
        n = len(self.keys)
        sizes = {len(self.labels), len(self.kinds), len(self.attributes), self.residents.shape[0]}
        if sizes != {n} or self.residents.ndim != 1 or self.weights.ndim != 2:
            raise ValueError(
                f"A GroupSet needs one key, label, kind, attribute and resident count per group "
                f"and weights [cell, group]. Got {n} keys, {len(self.labels)} labels, "
                f"{len(self.kinds)} kinds, {len(self.attributes)} attributes, residents of shape "
                f"{self.residents.shape} and weights of shape {self.weights.shape}."
            )
        if self.weights.shape[1] != n:
            raise ValueError(
                f"GroupSet weights must have one column per group ({n}). "
                f"Got shape {self.weights.shape}."
            )
        odd = sorted({k for k in self.kinds if k not in ("district", "resident group")})
        if odd:
            raise ValueError(f"GroupSet kinds are 'district' or 'resident group'. Got {odd}.")
        repeated = sorted({k for k in self.keys if self.keys.count(k) > 1})
        if repeated:
            raise ValueError(f"GroupSet keys must be unique. Repeated: {repeated}.")

    @property
    def n_groups(self) -> int:
        return len(self.keys)


def group_set(cells: pd.DataFrame, attributes: Sequence[AttributeSpec]) -> GroupSet:
    """The districts and resident groups of ``cells`` (the ``cells.parquet`` table).

    Districts come first, sorted by name ("outside areas" and "unknown" are not districts), then
    each attribute's groups in order, keyed ``"<attribute>:<group>"`` and labelled by the audit's
    :class:`GroupSpec` label. Refuses a missing ``district_name``, ``residents`` or group column
    (naming it), and negative or non-finite resident counts.
    """
    if "district_name" not in cells.columns:
        raise ValueError(
            f"cells has no column 'district_name' (each cell's district). "
            f"Columns: {list(cells.columns)}."
        )
    residents_c = _resident_counts(cells, "residents", what="residents per cell")
    names = cells["district_name"].astype(str).to_numpy()
    districts = sorted(set(names) - _NOT_DISTRICTS)
    keys = [f"district:{d}" for d in districts]
    labels = [f"district {d}" for d in districts]
    kinds: list[GroupKind] = ["district"] * len(districts)
    attrs = ["district"] * len(districts)
    columns = [(names == d).astype(np.float64) for d in districts]
    counts = [float(residents_c[names == d].sum()) for d in districts]
    for attr in attributes:
        for key, spec in attr.groups.items():
            p = _resident_counts(cells, spec.column, what=f"residents of group {attr.name}:{key}")
            keys.append(f"{attr.name}:{key}")
            labels.append(spec.label)
            kinds.append("resident group")
            attrs.append(attr.name)
            columns.append(np.nan_to_num(safe_div(p, residents_c)))
            counts.append(float(p.sum()))
    weights = np.column_stack(columns) if columns else np.zeros((len(cells), 0))
    return GroupSet(
        keys=tuple(keys),
        labels=tuple(labels),
        kinds=tuple(kinds),
        attributes=tuple(attrs),
        residents=np.asarray(counts, dtype=np.float64),
        weights=weights,
    )


@dataclass(frozen=True)
class RunArrays:
    """One loop run (one seed, closed or open), loop weeks only, each ``[week, cell]``: the flags,
    the true committed events of the target and the recorded events of the target."""

    flags: npt.NDArray[np.bool_]
    harm: FloatArray
    recorded: FloatArray


@dataclass(frozen=True)
class ScenarioMeasures:
    """What one scenario's closed and open runs say: per group, concentration, recording, and the
    scenario's outcome with a sentence naming the group furthest from parity."""

    groups: list[GroupDrift]
    concentration: Concentration
    recorded_in_flagged_ratio: SeedInterval
    status: GateStatus
    summary: str


def scenario_measures(
    closed: Sequence[RunArrays],
    open_: Sequence[RunArrays],
    *,
    groups: GroupSet,
    true_risk: npt.ArrayLike,
    window: int,
    band: tuple[float, float],
    min_flagged_cell_weeks: int,
    min_residents: float,
) -> ScenarioMeasures:
    """Measure one scenario: ``closed[i]`` and ``open_[i]`` are the same seed.

    Per group ``g`` and week ``t``, over the ``window`` weeks ending at ``t`` (fewer early on),
    ``R_g(t)`` = the group's share of the flags / its share of the true harm (weights
    ``groups.weights``), NaN with no flags or no harm of the group; ``drift_g(t)`` =
    ``R_g(t)`` closed / open, per seed. The final figures are at the last week. ``harm_share``
    is the closed loop's. ``true_risk`` ``[cell]`` ranks cells for the share of flags outside the
    true top k (k = the closed runs' mean flags per week; ties go to the lower index).

    Outcome per group (METRICS.md): INSUFFICIENT DATA below ``min_flagged_cell_weeks`` (fewest over
    seeds and loops, final window) or ``min_residents``, or with an undefined drift; FAIL when the
    drift's 95% interval lies outside ``band``; REVIEW when only the point does (or, with one seed,
    the point is outside), or when the trend's interval excludes 0 and a further year of it would
    take the drift outside the band; PASS otherwise. Refuses mismatched runs, shapes or options.
    """
    shape = _check_runs(closed, open_)
    risk = np.asarray(true_risk, dtype=np.float64)
    _check_options(shape, groups, risk, window=window, band=band)
    n_weeks, n_cells = shape
    win = min(window, n_weeks)

    top_k = round(float(np.mean([r.flags.sum(axis=1).mean() for r in closed])))
    in_top = np.zeros(n_cells, dtype=bool)
    in_top[np.argsort(-risk, kind="stable")[:top_k]] = True

    c = [_run_figures(r, groups.weights, window=win, in_top=in_top) for r in closed]
    o = [_run_figures(r, groups.weights, window=win, in_top=in_top) for r in open_]
    r_closed = np.stack([f.ratio for f in c])  # [seed, week, group]
    r_open = np.stack([f.ratio for f in o])
    drift = safe_div(r_closed, r_open)
    harm_share = np.stack([f.harm_share for f in c])
    trend = _log_slope_per_year(drift)  # [seed, group]
    flagged = np.min(np.stack([f.flagged_cell_weeks for f in (*c, *o)]), axis=0)

    records = []
    for g in range(groups.n_groups):
        d = _interval(drift[:, -1, g], ratio=True)
        tr = _interval(trend[:, g], ratio=False)
        status, reason = _judge(
            label=groups.labels[g],
            drift=d,
            trend=tr,
            flagged=int(flagged[g]),
            residents=float(groups.residents[g]),
            window=win,
            band=band,
            min_flagged=min_flagged_cell_weeks,
            min_residents=min_residents,
        )
        records.append(
            GroupDrift(
                key=groups.keys[g],
                label=groups.labels[g],
                kind=groups.kinds[g],
                attribute=groups.attributes[g],
                residents=float(groups.residents[g]),
                flagged_cell_weeks=int(flagged[g]),
                harm_share=_interval(harm_share[:, -1, g], ratio=False, share=True),
                closed_ratio=_interval(r_closed[:, -1, g], ratio=True),
                open_ratio=_interval(r_open[:, -1, g], ratio=True),
                drift=d,
                drift_weekly=_weekly(drift[:, :, g], ratio=True),
                trend_per_year=tr,
                status=status,
                reason=reason,
            )
        )

    def stacked(figs: list[_RunFigures], name: str) -> FloatArray:
        return np.stack([getattr(f, name) for f in figs])

    concentration = Concentration(
        gini_flags_closed=_weekly(stacked(c, "gini_flags"), ratio=False, share=True),
        gini_flags_open=_weekly(stacked(o, "gini_flags"), ratio=False, share=True),
        gini_harm=_weekly(stacked(c, "gini_harm"), ratio=False, share=True),
        outside_top_k_closed=_weekly(stacked(c, "outside_top_k"), ratio=False, share=True),
        outside_top_k_open=_weekly(stacked(o, "outside_top_k"), ratio=False, share=True),
        top_k=top_k,
        final_gini_flags_closed=_interval(stacked(c, "gini_flags")[:, -1], ratio=False, share=True),
        final_gini_flags_open=_interval(stacked(o, "gini_flags")[:, -1], ratio=False, share=True),
        final_outside_top_k_closed=_interval(
            stacked(c, "outside_top_k")[:, -1], ratio=False, share=True
        ),
        final_outside_top_k_open=_interval(
            stacked(o, "outside_top_k")[:, -1], ratio=False, share=True
        ),
    )
    recorded = safe_div(stacked(c, "recorded_in_flagged"), stacked(o, "recorded_in_flagged"))
    status, summary = _scenario_outcome(records)
    return ScenarioMeasures(
        groups=records,
        concentration=concentration,
        recorded_in_flagged_ratio=_interval(recorded, ratio=True),
        status=status,
        summary=summary,
    )


def gini(values: npt.ArrayLike) -> FloatArray:
    """Gini coefficient over the last axis of non-negative ``values``: 0 when all are equal (or
    all zero), ``(n - 1) / n`` when one of ``n`` holds everything."""
    x = np.sort(np.asarray(values, dtype=np.float64), axis=-1)
    n = x.shape[-1]
    total = x.sum(axis=-1)
    rank = np.arange(1, n + 1, dtype=np.float64)
    weighted = (x * rank).sum(axis=-1)
    g = safe_div(2.0 * weighted, n * total) - (n + 1) / n
    # Round-off can leave an even vector a hair below 0.
    return np.where(total > 0, np.clip(g, 0.0, 1.0), 0.0)


# -- one run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RunFigures:
    ratio: FloatArray  # [week, group] flag share / harm share, trailing window
    harm_share: FloatArray  # [week, group]
    flagged_cell_weeks: FloatArray  # [group], final window
    gini_flags: FloatArray  # [week], cumulative flags
    gini_harm: FloatArray  # [week], cumulative harm
    outside_top_k: FloatArray  # [week]
    recorded_in_flagged: float


def _run_figures(
    run: RunArrays, weights: FloatArray, *, window: int, in_top: npt.NDArray[np.bool_]
) -> _RunFigures:
    flags = run.flags.astype(np.float64)
    # Sum over cells first (matrix products), then over the window on the small [week, group]
    # tables; summing a window (not differencing cumulative sums) keeps an empty window exactly 0.
    flag_win = _trailing(flags @ weights, window)
    flag_tot = _trailing(flags.sum(axis=1), window)
    harm_win = _trailing(run.harm @ weights, window)
    harm_tot = _trailing(run.harm.sum(axis=1), window)
    flag_share = safe_div(flag_win, flag_tot[:, None])
    harm_share = safe_div(harm_win, harm_tot[:, None])
    week_flags = flags.sum(axis=1)
    return _RunFigures(
        ratio=safe_div(flag_share, harm_share),
        harm_share=harm_share,
        flagged_cell_weeks=flags[-window:].sum(axis=0) @ (weights > 0),
        gini_flags=gini(np.cumsum(flags, axis=0)),
        gini_harm=gini(np.cumsum(run.harm, axis=0)),
        outside_top_k=safe_div(flags[:, ~in_top].sum(axis=1), week_flags),
        recorded_in_flagged=float((run.recorded * run.flags).sum()),
    )


def _trailing(x: FloatArray, window: int) -> FloatArray:
    """Sums over the ``window`` rows ending at each row (fewer at the start), axis 0."""
    padded = np.concatenate([np.zeros((window - 1, *x.shape[1:])), x], axis=0)
    view = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)
    return view.sum(axis=-1)


def _log_slope_per_year(drift: FloatArray) -> FloatArray:
    """Least-squares slope of log drift over the second half of the weeks, per 52 weeks, for each
    ``[seed, group]``; fitted on the weeks where the drift is defined (NaN with fewer than 2)."""
    n_weeks = drift.shape[1]
    start = n_weeks // 2
    part = drift[:, start:, :]
    ok = np.isfinite(part) & (part > 0)
    y = np.log(np.where(ok, part, 1.0))
    x = np.broadcast_to(np.arange(start, n_weeks, dtype=np.float64)[None, :, None], part.shape)
    m = ok.astype(np.float64)
    count = m.sum(axis=1, keepdims=True)
    x_bar = safe_div((m * x).sum(axis=1, keepdims=True), count)
    y_bar = safe_div((m * y).sum(axis=1, keepdims=True), count)
    sxx = (m * (x - x_bar) ** 2).sum(axis=1)
    sxy = (m * (x - x_bar) * (y - y_bar)).sum(axis=1)
    slope = safe_div(sxy, sxx) * 52.0
    return np.where(count[:, 0, :] >= 2, slope, np.nan)


# -- over seeds ------------------------------------------------------------------------------


def _summarise(
    values: FloatArray, *, ratio: bool, share: bool = False
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Mean over seeds (axis 0) and its 95% t-interval, per remaining position.

    ``ratio``: the geometric mean, interval on the logs. ``share``: a figure in [0, 1] (a share,
    a Gini), whose interval is clipped to it. The mean is NaN where a seed's figure is undefined;
    the interval also where there is one seed (or, for ratios, a figure <= 0)."""
    n = values.shape[0]
    finite = np.isfinite(values).all(axis=0)
    if ratio:
        positive = finite & (values > 0).all(axis=0)
        logs = np.log(np.where(np.isfinite(values) & (values > 0), values, 1.0))
        centre = logs.mean(axis=0)
        mean = np.where(positive, np.exp(centre), np.where(finite, 0.0, np.nan))
        usable = positive
    else:
        centre = np.where(np.isfinite(values), values, 0.0).mean(axis=0)
        mean = np.where(finite, centre, np.nan)
        usable = finite
    if n < 2:
        nan = np.full(mean.shape, np.nan)
        return mean, nan, nan
    sample = logs if ratio else np.where(np.isfinite(values), values, 0.0)
    half = float(stats.t.ppf(0.975, n - 1)) * sample.std(axis=0, ddof=1) / np.sqrt(n)
    low, high = centre - half, centre + half
    if ratio:
        low, high = np.exp(low), np.exp(high)
    if share:
        low, high = np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)
    return mean, np.where(usable, low, np.nan), np.where(usable, high, np.nan)


def _interval(per_seed: FloatArray, *, ratio: bool, share: bool = False) -> SeedInterval:
    mean, low, high = _summarise(np.asarray(per_seed, dtype=np.float64), ratio=ratio, share=share)
    return SeedInterval(
        value=_opt(mean),
        low=_opt(low),
        high=_opt(high),
        per_seed=[_opt(v) for v in per_seed],
    )


def _weekly(values: FloatArray, *, ratio: bool, share: bool = False) -> WeeklySeries:
    mean, low, high = _summarise(values, ratio=ratio, share=share)
    return WeeklySeries(
        mean=[_opt(v) for v in mean], low=[_opt(v) for v in low], high=[_opt(v) for v in high]
    )


def _opt(x: float | np.floating | FloatArray) -> float | None:
    v = float(x)
    return v if np.isfinite(v) else None


# -- outcomes --------------------------------------------------------------------------------


def _judge(
    *,
    label: str,
    drift: SeedInterval,
    trend: SeedInterval,
    flagged: int,
    residents: float,
    window: int,
    band: tuple[float, float],
    min_flagged: int,
    min_residents: float,
) -> tuple[GateStatus, str]:
    """One group's outcome and the sentence that says why."""
    lo, hi = band
    band_text = f"the band {lo:g} to {hi:g}"
    short = []
    if flagged < min_flagged:
        short.append(
            f"{flagged} flagged cell-weeks in the final {window} weeks "
            f"(at least {min_flagged} needed)"
        )
    if residents < min_residents:
        short.append(f"{residents:,.0f} residents (at least {min_residents:,.0f} needed)")
    if short:
        seen = (
            f"; its drift, {drift.value:.2f}, is reported but not judged"
            if drift.value is not None
            else ""
        )
        return _INSUFFICIENT, f"Too few to judge {label}: {' and '.join(short)}{seen}."
    d = drift.value
    if d is None or d <= 0:
        return _INSUFFICIENT, (
            f"Cannot judge {label}: its drift is undefined or zero in at least one seed (no flags "
            f"or no true harm of the group in one loop's final {window} weeks)."
        )
    opening = (
        f"The closed loop flags {label} {d:.2f} times as often, per unit of true harm, as the "
        f"open loop does {_interval_text(drift)}"
    )
    outside = "above" if d > hi else "below" if d < lo else None
    if drift.low is not None and drift.high is not None:
        if drift.low > hi or drift.high < lo:
            return "FAIL", f"{opening}: the whole interval is {outside} {band_text}."
        if outside:
            return "REVIEW", (
                f"{opening}: {outside} {band_text}, though the interval reaches into it."
            )
    elif outside:
        return "REVIEW", f"{opening}: {outside} {band_text}; one seed cannot rule out chance."
    growing = _growth(trend)
    if growing is not None:
        ahead = d * float(np.exp(growing))
        if not lo <= ahead <= hi:
            way = "growing" if growing > 0 else "shrinking"
            return "REVIEW", (
                f"{opening}: inside {band_text}, but it keeps {way}, by a factor of "
                f"{np.exp(growing):.2f} a year {_interval_text(trend, exp=True)}, and another "
                f"year would take it to {ahead:.2f}, outside the band."
            )
    return "PASS", f"{opening}: inside {band_text}."


def _growth(trend: SeedInterval) -> float | None:
    """The trend when it is a finding: its interval excludes 0 (with one seed, the point)."""
    if trend.value is None:
        return None
    if trend.low is None or trend.high is None:
        return trend.value if len(trend.per_seed) == 1 else None
    return trend.value if (trend.low > 0 or trend.high < 0) else None


def _interval_text(x: SeedInterval, *, exp: bool = False) -> str:
    """The interval in words, "(95% interval over 3 seeds 1.01 to 1.13)"; ``exp``: of a log
    figure, given as factors."""
    n = len(x.per_seed)
    if x.low is None or x.high is None:
        return "(one seed, so no interval)" if n == 1 else "(no interval: a seed is undefined)"
    low, high = (float(np.exp(x.low)), float(np.exp(x.high))) if exp else (x.low, x.high)
    return f"(95% interval over {n} seeds {low:.2f} to {high:.2f})"


def _scenario_outcome(records: list[GroupDrift]) -> tuple[GateStatus, str]:
    judged = [r for r in records if r.status != _INSUFFICIENT]
    n_short = len(records) - len(judged)
    counts = f"{len(judged)} groups judged, {n_short} with insufficient data"
    status: GateStatus = (
        max((r.status for r in judged), key=lambda s: _SEVERITY[s]) if judged else _INSUFFICIENT
    )
    pool = [r for r in judged if r.drift.value] or [r for r in records if r.drift.value]
    if not pool:
        return status, f"No group's drift is defined; {counts}."
    far = max(pool, key=lambda r: abs(np.log(r.drift.value or 1.0)))
    note = "" if far.status != _INSUFFICIENT else ", not judged"
    return status, (
        f"Furthest from 1: {far.label}, drift {far.drift.value:.2f} "
        f"{_interval_text(far.drift)}{note}; {counts}."
    )


# -- checks ----------------------------------------------------------------------------------


def _resident_counts(cells: pd.DataFrame, column: str, *, what: str) -> FloatArray:
    values = cell_column(cells, column, what=what)
    if not (np.isfinite(values).all() and (values >= 0).all()):
        raise ValueError(
            f"cells[{column!r}] ({what}) must be finite and non-negative everywhere. "
            f"Got min {np.nanmin(values) if len(values) else 'n/a'}, "
            f"{int((~np.isfinite(values)).sum())} missing or infinite."
        )
    return values


def _check_runs(closed: Sequence[RunArrays], open_: Sequence[RunArrays]) -> tuple[int, int]:
    if not closed or len(closed) != len(open_):
        raise ValueError(
            f"Closed and open runs must pair seed by seed (at least one each). "
            f"Got {len(closed)} closed and {len(open_)} open."
        )
    shape = closed[0].flags.shape
    if len(shape) != 2 or shape[0] < 1 or shape[1] < 1:
        raise ValueError(f"Run arrays must be [week, cell] with at least one of each. Got {shape}.")
    for loop, runs in (("closed", closed), ("open", open_)):
        for i, run in enumerate(runs):
            where = f"The {loop} run {i}"
            for name in ("flags", "harm", "recorded"):
                got = getattr(run, name).shape
                if got != shape:
                    raise ValueError(f"{where}: {name} has shape {got}; expected {shape}.")
            if run.flags.dtype != np.bool_:
                raise ValueError(f"{where}: flags must be bool. Got {run.flags.dtype}.")
            for name in ("harm", "recorded"):
                a = getattr(run, name)
                if not (np.isfinite(a).all() and (a >= 0).all()):
                    raise ValueError(f"{where}: {name} must be finite and non-negative.")
    return shape


def _check_options(
    shape: tuple[int, int],
    groups: GroupSet,
    risk: FloatArray,
    *,
    window: int,
    band: tuple[float, float],
) -> None:
    n_cells = shape[1]
    if groups.weights.shape[0] != n_cells:
        raise ValueError(
            f"groups.weights has {groups.weights.shape[0]} cells; the runs have {n_cells}."
        )
    if risk.shape != (n_cells,) or not np.isfinite(risk).all():
        raise ValueError(
            f"true_risk must be finite, one figure per cell, shape ({n_cells},). Got {risk.shape}."
        )
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise ValueError(f"window must be a whole number of weeks >= 1. Got {window!r}.")
    lo, hi = band
    if not 0 < lo < hi:
        raise ValueError(f"band must be (low, high) with 0 < low < high. Got {band!r}.")
