"""Feedback loops between the forecast and recorded crime (issue 14, METRICS.md G11).

:func:`run_loop` plays forecast -> allocate -> patrol dose -> observe -> append, period by period,
with a pluggable forecaster, allocator and recorder (``models.feedback.loop``). On the synthetic
city the recorder is ``simcity.loop.CityStepper``, whose recording (and, optionally, committed
crime) answers the patrol it is given.
"""

from models.feedback.loop import (
    Allocation,
    Allocator,
    Forecaster,
    LoopHistory,
    LoopTrace,
    Observation,
    Recorder,
    draw_one_in_proportion,
    flag_top_k,
    patrol_dose,
    run_loop,
)

__all__ = [
    "Allocation",
    "Allocator",
    "Forecaster",
    "LoopHistory",
    "LoopTrace",
    "Observation",
    "Recorder",
    "draw_one_in_proportion",
    "flag_top_k",
    "patrol_dose",
    "run_loop",
]
