"""``reports/backtest_metrics.json``: the backtest's figures, written by ``evaluate``.

In memory the figures are typed: a :class:`ForecastScores` per forecast (the model and each
baseline), coverages as numbers, the lift as a :class:`Lift`. On disk the file keeps the flat
layout DVC compares (``pai_at_5pct``, ``baselines.all_history.hr_at_1pct``, ...), because
``dvc metrics show/diff`` read numbers at fixed keys. The coverage key fragment (``5`` for 5%,
``0p5`` for 0.5%) is built only by :func:`coverage_label`, here; the file also carries the
operational ``coverage`` and the reported ``coverages`` as numbers, so no reader parses a key to
learn them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from beatwise.artefacts._base import Artefact, ArtefactError
from beatwise.artefacts.cells import StudyAreaRule
from beatwise.period import Period

#: Figures reported at every coverage of the grid, in file order.
PER_COVERAGE: tuple[str, ...] = ("hr", "pai", "pei", "pei_truth")


def coverage_label(coverage: float) -> str:
    """Key fragment of a coverage: 0.005 -> ``"0p5"``, 0.05 -> ``"5"`` (percent; ``.`` as ``p``).

    The one place a coverage becomes text in a key; ``backtest_metrics.json``, ``audit.json``
    and the reports all use it.
    """
    pct = round(float(coverage) * 100.0, 6)
    if pct == int(pct):
        return str(int(pct))
    return f"{pct:g}".replace(".", "p")


def _key(name: str, coverage: float) -> str:
    return f"{name}_at_{coverage_label(coverage)}pct"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ForecastScores(_Frozen):
    """One forecast's pooled backtest figures (the model's or a baseline's).

    Each per-coverage mapping is keyed by the coverage as a share of the study area (0.05 = 5%);
    a value is None where it is undefined (no events at all).
    """

    hr: dict[float, float | None]
    pai: dict[float, float | None]
    pei: dict[float, float | None]
    #: truth efficiency PEI_T: only where the simulator's true risk is known
    pei_truth: dict[float, float | None] | None = None
    poisson_deviance: float | None
    calibration_oe: float | None
    #: churn of the flagged set at the operational coverage
    churn: float | None

    def at(self, name: str, coverage: float) -> float | None:
        """The figure ``name`` (``hr``, ``pai``, ``pei``, ``pei_truth``) at ``coverage``."""
        table = getattr(self, name)
        if table is None or coverage not in table:
            raise KeyError(f"No {name} at coverage {coverage} in these backtest metrics.")
        value: float | None = table[coverage]
        return value

    def to_flat(self, *, coverage: float) -> dict[str, Any]:
        """The flat keys of this forecast in ``backtest_metrics.json``."""
        out: dict[str, Any] = {}
        for name in PER_COVERAGE:
            table = getattr(self, name)
            if table is None:
                continue
            for k, value in table.items():
                out[_key(name, k)] = value
        out["poisson_deviance"] = self.poisson_deviance
        out["calibration_oe"] = self.calibration_oe
        out[_key("churn", coverage)] = self.churn
        return out

    @classmethod
    def from_flat(
        cls, flat: Mapping[str, Any], *, coverages: tuple[float, ...], coverage: float, where: str
    ) -> Self:
        """Read the flat keys of one forecast; every key must be known and every figure present."""
        expected = {_key(n, k) for n in ("hr", "pai", "pei") for k in coverages}
        truth_keys = {_key("pei_truth", k) for k in coverages}
        has_truth = any(key in flat for key in truth_keys)
        if has_truth:
            expected |= truth_keys
        expected |= {"poisson_deviance", "calibration_oe", _key("churn", coverage)}
        missing = sorted(expected - set(flat))
        extra = sorted(set(flat) - expected)
        if missing or extra:
            raise ArtefactError(
                f"{where}: the figures do not match the coverages {list(coverages)} and the "
                f"operational coverage {coverage}. Missing keys: {missing}; unknown keys: {extra}."
            )
        tables = {
            name: {k: flat[_key(name, k)] for k in coverages}
            for name in PER_COVERAGE
            if name != "pei_truth" or has_truth
        }
        return cls.model_validate(
            {
                **tables,
                "poisson_deviance": flat["poisson_deviance"],
                "calibration_oe": flat["calibration_oe"],
                "churn": flat[_key("churn", coverage)],
            }
        )


class Lift(_Frozen):
    """Pooled PAI of the model over the best baseline's, with a 95% block-bootstrap interval."""

    baseline: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None


class BlendScores(_Frozen):
    """The stacked blend's backtest (``train.blend``): the top-level figures are the blend's;
    these are the model alone on the same cells and periods, and each refit block's weights."""

    #: "model", then the blended baselines
    parts: tuple[str, ...]
    #: each refit block's weights (one per part), by the block's first period
    weights: dict[dt.date, tuple[float, ...]]
    #: the model's own expected count, unblended
    unblended: ForecastScores
    #: the unblended model's lift over the same best baseline
    unblended_lift: Lift


class BacktestMetrics(Artefact):
    """The rolling-origin backtest: the model, every baseline, and the lift over the best."""

    period: Period
    #: the operational coverage (share of the study area flagged), from ``operational.coverage``
    coverage: float = Field(gt=0.0, le=1.0)
    #: the coverages every per-coverage figure is reported at, ascending
    coverages: tuple[float, ...]
    model: ForecastScores
    baselines: dict[str, ForecastScores]
    #: the baseline with the highest pooled PAI at ``coverage``
    best_baseline: str
    lift: Lift
    backtest_first_period: dt.date
    backtest_last_period: dt.date
    #: how the backtest periods were chosen: the last ``evaluate.backtest_periods`` labelled
    #: periods, or the fixed window ``evaluate.backtest_first`` to ``backtest_last``
    backtest_window: Literal["last", "fixed"] = "last"
    n_backtest_periods: int = Field(ge=1)
    n_periods_without_events: int = Field(ge=0)
    n_cells: int = Field(ge=1)
    refit_every: int = Field(ge=1)
    #: the rule that chose the study cells (``cells_meta.json``), which every share of the area
    #: depends on; set by the evaluate stage, None only for figures computed outside it
    study_area: StudyAreaRule | None = None
    #: the model alone and the blend's weights, when the model is a blend (``train.blend``)
    blend: BlendScores | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.baselines:
            raise ValueError("baselines must name at least one baseline")
        if self.best_baseline not in self.baselines or self.lift.baseline != self.best_baseline:
            raise ValueError(
                f"best_baseline {self.best_baseline!r} and the lift's baseline "
                f"{self.lift.baseline!r} must be one of the baselines {sorted(self.baselines)}"
            )
        labels = [coverage_label(k) for k in self.coverages]
        if len(set(labels)) != len(labels) or list(self.coverages) != sorted(self.coverages):
            raise ValueError(f"coverages must be ascending and distinct. Got {self.coverages}")
        # Every per-coverage table is keyed by exactly the reported coverages, so the file written
        # from this object always reads back (checked here, not first when a later stage reads).
        forecasts = {"model": self.model}
        forecasts.update({f"baselines.{n}": s for n, s in self.baselines.items()})
        for where, scores in forecasts.items():
            for name in PER_COVERAGE:
                table = getattr(scores, name)
                if table is not None and tuple(sorted(table)) != self.coverages:
                    raise ValueError(
                        f"{where}.{name} must give a figure at each of the coverages "
                        f"{list(self.coverages)}. Got {sorted(table)}."
                    )
        return self

    def to_json(self) -> dict[str, Any]:
        """The flat layout of ``backtest_metrics.json`` (model figures at the top level)."""
        out: dict[str, Any] = self.model.to_flat(coverage=self.coverage)
        out["baselines"] = {
            name: scores.to_flat(coverage=self.coverage) for name, scores in self.baselines.items()
        }
        out[_key("best_baseline", self.coverage)] = self.best_baseline
        out[_key("lift_pai", self.coverage)] = self.lift.model_dump(mode="json")
        out["coverage"] = self.coverage
        out["coverages"] = list(self.coverages)
        out["period"] = self.period
        out["backtest_first_period"] = self.backtest_first_period.isoformat()
        out["backtest_last_period"] = self.backtest_last_period.isoformat()
        out["backtest_window"] = self.backtest_window
        for name in ("n_backtest_periods", "n_periods_without_events", "n_cells", "refit_every"):
            out[name] = getattr(self, name)
        if self.study_area is not None:
            out["study_area"] = self.study_area
        if self.blend is not None:
            b = self.blend
            out["blend"] = {
                "parts": list(b.parts),
                "weights": {day.isoformat(): list(w) for day, w in b.weights.items()},
                "unblended": {
                    **b.unblended.to_flat(coverage=self.coverage),
                    _key("lift_pai", self.coverage): b.unblended_lift.model_dump(mode="json"),
                },
            }
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], *, source: str = "<memory>") -> Self:
        """Read the flat layout back into typed fields, refusing unknown or missing keys."""
        flat = dict(data)
        try:
            coverage = float(flat.pop("coverage"))
            coverages = tuple(float(k) for k in flat.pop("coverages"))
        except KeyError as err:
            raise ArtefactError(f"{source}: key {err.args[0]!r} is missing.") from None
        if not (0.0 < coverage <= 1.0) or any(not math.isfinite(k) for k in coverages):
            raise ArtefactError(f"{source}: coverage {coverage} must lie in (0, 1].")
        meta_keys = (
            "period",
            "backtest_first_period",
            "backtest_last_period",
            "backtest_window",
            "n_backtest_periods",
            "n_periods_without_events",
            "n_cells",
            "refit_every",
            "study_area",
        )
        fields: dict[str, Any] = {k: flat.pop(k) for k in meta_keys if k in flat}
        baselines_raw = flat.pop("baselines", {})
        if (blend := flat.pop("blend", None)) is not None:
            unblended = dict(blend.get("unblended", {}))
            fields["blend"] = {
                "parts": blend.get("parts"),
                "weights": blend.get("weights"),
                "unblended_lift": unblended.pop(_key("lift_pai", coverage), None),
                "unblended": ForecastScores.from_flat(
                    unblended, coverages=coverages, coverage=coverage, where=f"{source} (blend)"
                ),
            }
        best_key, lift_key = _key("best_baseline", coverage), _key("lift_pai", coverage)
        if best_key not in flat or lift_key not in flat:
            raise ArtefactError(
                f"{source}: keys {best_key!r} and {lift_key!r} must be present for the "
                f"operational coverage {coverage}."
            )
        fields["best_baseline"] = flat.pop(best_key)
        fields["lift"] = flat.pop(lift_key)
        fields["model"] = ForecastScores.from_flat(
            flat, coverages=coverages, coverage=coverage, where=f"{source} (model)"
        )
        if not isinstance(baselines_raw, dict):
            raise ArtefactError(f"{source}: key 'baselines' must be an object.")
        fields["baselines"] = {
            name: ForecastScores.from_flat(
                block, coverages=coverages, coverage=coverage, where=f"{source} (baselines.{name})"
            )
            for name, block in baselines_raw.items()
        }
        return super().from_json(
            {**fields, "coverage": coverage, "coverages": coverages}, source=source
        )
