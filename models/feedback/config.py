"""What the closed-loop simulation runs: its params (``feedback``) and its named scenarios.

A *scenario* is the pipeline's own configuration with one thing changed, named so a board can
read it: the target, the features, the city's patrol, or a mitigation. The *configured* scenario
is the pipeline as its params stand (the one gate G11 judges); the others run when
``feedback.scenarios`` names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from beatwise.taxonomy import POLICE_ACTIVITY_TYPES
from features.engineering import FeatureConfig
from models.risk_model import RiskModelConfig
from simcity.config import CityConfig

ScenarioName = Literal[
    "police_activity_target",
    "police_activity_features",
    "over_policing",
    "downweight_discovered",
    "consecutive_cap",
]
CONFIGURED: str = "configured"
#: the shortest loop whose drift can PASS gate G11 (METRICS.md: at least 52 weeks)
MIN_GATE_WEEKS: int = 52
#: the police-activity types a scenario adds to the target: the ones G1 forbids without a reason
ADDED_TARGET_TYPES: tuple[str, ...] = ("drugs", "public_order")
#: weeks in a calendar month, on average (365.25 / 12 / 7)
WEEKS_PER_MONTH: float = 365.25 / 12 / 7


class FeedbackConfig(BaseModel):
    """The ``feedback`` params: the loop's length, seeds, patrol dose and scenarios."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: loop weeks: the last ``weeks`` of the synthetic city; the weeks before are its history.
    #: G11 needs at least ``MIN_GATE_WEEKS``: a shorter loop (a test city) is REVIEW at best
    weeks: int = Field(52, ge=4, le=520)
    #: seeds: the simulate stage's seed, then the next ones (a seed is a whole city)
    seeds: int = Field(3, ge=2, le=20)
    #: patrol in a flagged cell, as a multiple of its baseline patrol
    dose: float = Field(2.0, gt=1.0, le=10.0)
    #: where the dose comes from, in words the report prints
    dose_basis: str = Field(min_length=1)
    #: trailing weeks over which a group's shares of flags and of harm are taken
    window: int = Field(13, ge=1, le=52)
    #: scenarios to run besides the configured one (each as long as the configured one)
    scenarios: tuple[ScenarioName, ...] = ()
    #: the over_policing scenario: patrol x factor in areas of deprivation deciles 1..this
    over_policing_decile_max: int = Field(2, ge=1, le=10)
    over_policing_factor: float = Field(2.0, gt=1.0, le=20.0)
    #: the consecutive_cap scenario: a cell flagged this many weeks running sits out a week
    max_consecutive_weeks: int = Field(4, ge=1, le=52)
    #: processes running seeds side by side; None: one per seed, at most two per core. Each holds
    #: a whole simulated city and its panel (1.5 GB on the default city, about 7 GB on the
    #: london_decade recipe), so a machine short of memory sets fewer; the loop's results do not
    #: depend on it
    workers: int | None = Field(None, ge=1, le=64)


@dataclass(frozen=True)
class Scenario:
    """One configuration of the loop."""

    name: str
    #: a sentence a board reads: what differs from the pipeline as configured
    label: str
    features: FeatureConfig
    city: CityConfig
    downweight_discovered: bool = False
    max_consecutive_weeks: int | None = None
    #: the over-policed area in words, when the scenario has one
    over_policing: str | None = None


def loop_features(features: FeatureConfig) -> FeatureConfig:
    """The pipeline's feature settings as the weekly synthetic city takes them: monthly settings
    (a real preset of monthly data) fall back to the weekly defaults, keeping the target, the
    feature types and the police-activity setting."""
    if features.period != "month":
        return features.model_copy(update={"period": "week"})
    defaults = FeatureConfig()
    return features.model_copy(
        update={
            "period": "week",
            "lags": defaults.lags,
            "rolling_windows": defaults.rolling_windows,
            "decay_half_lives": defaults.decay_half_lives,
            "since_cap": defaults.since_cap,
            "min_history_periods": defaults.min_history_periods,
        }
    )


def loop_weeks(periods: int, *, features: FeatureConfig) -> int:
    """``periods`` of the pipeline's period as weeks of the weekly loop: the same span of the
    calendar (3 months are 13 weeks) when the pipeline counts months, unchanged otherwise."""
    if features.period != "month":
        return periods
    return max(1, round(periods * WEEKS_PER_MONTH))


def loop_model(model: RiskModelConfig, *, features: FeatureConfig) -> RiskModelConfig:
    """The model's windows as the weekly loop takes them: a monthly pipeline's hold-out and
    history (``validation_periods``, ``history_periods``, counted in months) become the same span
    of weeks, so the loop's fits early-stop on and learn from what the pipeline's do."""
    if features.period != "month":
        return model
    update: dict[str, int] = {
        "validation_periods": loop_weeks(model.validation_periods, features=features)
    }
    if model.history_periods is not None:
        update["history_periods"] = loop_weeks(model.history_periods, features=features)
    return RiskModelConfig.model_validate({**model.model_dump(), **update})


def _with_police_target(features: FeatureConfig) -> FeatureConfig:
    added = tuple(t for t in ADDED_TARGET_TYPES if t not in features.target_types)
    return FeatureConfig.model_validate(
        {
            **features.model_dump(),
            "target_types": (*features.target_types, *added),
            # the per-type features stay as they were: only the target changes
            "feature_types": features.per_type_feature_types,
            "target_reason": features.target_reason
            or "closed-loop scenario: what the loop does when police-found offences are forecast",
        }
    )


def build_scenarios(
    config: FeedbackConfig, *, features: FeatureConfig, city: CityConfig
) -> list[Scenario]:
    """The configured scenario, then each of ``config.scenarios`` in order."""
    base = loop_features(features)
    police_target = _with_police_target(base)
    police_words = " and ".join(t.replace("_", " ") for t in ADDED_TARGET_TYPES)
    out = [Scenario(CONFIGURED, "The pipeline as configured.", base, city)]
    for name in config.scenarios:
        if name == "police_activity_target":
            out.append(
                Scenario(
                    name,
                    f"{police_words.capitalize()} offences added to what is forecast "
                    "(offences police find where they look; gate G1 forbids this without a "
                    "reason).",
                    police_target,
                    city,
                )
            )
        elif name == "police_activity_features":
            feature_types = tuple(
                dict.fromkeys((*base.per_type_feature_types, *sorted(POLICE_ACTIVITY_TYPES)))
            )
            out.append(
                Scenario(
                    name,
                    "Police-activity offences (drugs, weapons, public order, anti-social "
                    "behaviour, other) used as predictors; the target unchanged.",
                    FeatureConfig.model_validate(
                        {
                            **base.model_dump(),
                            "feature_types": feature_types,
                            "police_activity_features": True,
                        }
                    ),
                    city,
                )
            )
        elif name == "over_policing":
            area = (
                f"the areas in deprivation deciles 1 to {config.over_policing_decile_max}"
                if config.over_policing_decile_max > 1
                else "the areas in the most deprived decile"
            )
            factor = f"{config.over_policing_factor:g}"
            recording = city.recording.model_copy(
                update={
                    "over_policing": city.recording.over_policing.model_copy(
                        update={
                            "deprivation_decile_max": config.over_policing_decile_max,
                            "factor": config.over_policing_factor,
                        }
                    )
                }
            )
            out.append(
                Scenario(
                    name,
                    f"Baseline patrol {factor} times as heavy in {area} from the start; "
                    "the pipeline as configured.",
                    base,
                    city.model_copy(update={"recording": recording}),
                    over_policing=f"{area}, patrol x{factor}",
                )
            )
        elif name == "downweight_discovered":
            out.append(
                Scenario(
                    name,
                    f"{police_words.capitalize()} in the target, with the remedy of Ensign et al. "
                    "(2018): an offence police found in a flagged cell counts with probability "
                    "one over the patrol dose.",
                    police_target,
                    city,
                    downweight_discovered=True,
                )
            )
        else:  # consecutive_cap
            n = config.max_consecutive_weeks
            out.append(
                Scenario(
                    name,
                    f"{police_words.capitalize()} in the target, and no cell flagged more than "
                    f"{n} weeks running (it sits out the next week).",
                    police_target,
                    city,
                    max_consecutive_weeks=n,
                )
            )
    return out
