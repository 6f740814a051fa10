"""Ingest: every source's rows read, judged one way, and summarised.

One module per concern; this package's face is what stages, scripts and benchmarks call:

* ``run_ingest(cfg, data_dir=...)``: the ingest stage's work as one call (``run``), configured by
  the ``ingest`` params section (``IngestConfig``, ``config``);
* the loaders, one module per source, each returning a raw canonical frame and judging nothing:
  ``synthetic``, ``police_uk_csv``, ``police_uk_api``, ``mapped_csv`` (``ColumnMapping``);
* ``validate_events`` (``validation``): the row judge, accepted or quarantined with a reason;
* the areas contract (``areas``: ``read_areas``, the one reader; ``load_area_attributes`` through
  an ``AreaMapping``, ``area_mapping``), the polygon that contains each point (``locate``), the
  district coverage filter (``coverage``) and the data-quality summary (``quality``);
* ``parsing``: the helpers every source shares (text, numbers, times, headers).
"""

from features.ingest.area_mapping import AreaMapping
from features.ingest.areas import empty_areas, load_area_attributes, read_areas
from features.ingest.config import AreasConfig, IngestConfig
from features.ingest.mapped_csv import ColumnMapping, load_mapped_csv
from features.ingest.parsing import POLICE_UK_TIME_FORMAT
from features.ingest.police_uk_api import load_police_uk_api_json
from features.ingest.police_uk_csv import load_police_uk_street_csv
from features.ingest.run import IngestResult, run_ingest
from features.ingest.synthetic import load_synthetic_events
from features.ingest.validation import QUARANTINE_REASONS, ValidatedEvents, validate_events

__all__ = [
    "POLICE_UK_TIME_FORMAT",
    "QUARANTINE_REASONS",
    "AreaMapping",
    "AreasConfig",
    "ColumnMapping",
    "IngestConfig",
    "IngestResult",
    "ValidatedEvents",
    "empty_areas",
    "load_area_attributes",
    "load_mapped_csv",
    "load_police_uk_api_json",
    "load_police_uk_street_csv",
    "load_synthetic_events",
    "read_areas",
    "run_ingest",
    "validate_events",
]
