"""Typed files passed between stages: one definition each, with its ``read`` and ``write``.

Producers write through these definitions and consumers read through them; no stage reads another
stage's JSON by string key. ``docs/architecture.md`` lists each file, its producer and readers.

- ``reports/data_quality.json``: ``quality.DataQuality`` (ingest)
- ``data/processed/fit/data_quality.json``: ``quality.DataQuality`` (build_features: the rows
  dated before the refresh's fit point ends)
- ``data/processed/cells_meta.json``: ``cells.CellsMeta`` (build_cells)
- ``data/processed/panel_meta.json``: ``panel.PanelMeta`` (build_features)
- ``data/models/model_meta.json``: ``model.ModelMeta`` (train)
- ``reports/backtest_metrics.json``: ``metrics.BacktestMetrics`` (evaluate)
- ``reports/audit.json``: ``audit.AuditReport`` (audit)
- ``reports/transparency_record.json``: ``transparency.TransparencyRecord`` (audit; read by
  people, beside its Markdown twin)
- ``data/forecasts/candidate/manifest.json`` and each publication's: ``manifest.Manifest``
  (publish)
- ``reports/publication.json``: ``publication.PublicationRecord`` (publish)
- ``data/published/latest.json``: ``publication.LatestPublication`` (publish)
- ``data/published/scorecards/<period>.json``: ``scorecard.Scorecard`` (``beatwise score``;
  its history ``data/published/scorecard.csv``)
"""

from beatwise.artefacts._base import Artefact, ArtefactError

__all__ = ["Artefact", "ArtefactError"]
