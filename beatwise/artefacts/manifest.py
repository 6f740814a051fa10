"""``manifest.json``: one forecast set, its files by sha256, its model and the audit behind it.

``publish`` writes it beside its candidate forecast (``data/forecasts/candidate/manifest.json``)
and copies it, with the files it names, into each publication (``data/published/<period>/``),
where planners' tools read it. Its hashes name the files beside it in a publication
(:meth:`Manifest.file_hashes`). The forecast period is written under the key named like the CSV's
period column: ``forecast_week``, or ``forecast_month`` in monthly mode.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from beatwise.artefacts._base import Artefact, ArtefactError
from beatwise.h3index import MAX_RESOLUTION, MIN_RESOLUTION
from beatwise.period import PERIODS, Period

#: the audit's word for planners, as the forecast CSV's ``audit_status`` column prints it
AuditStatus = Literal["pass", "pass with review", "override"]
_SHA256 = r"^[0-9a-f]{64}$"
#: the keys a manifest may name its period by; exactly the one of its ``period`` is allowed
_PERIOD_KEYS: tuple[str, ...] = (*(f"forecast_{p}" for p in PERIODS), "forecast_period")
#: the files of a publication's folder: the forecast (CSV, GeoJSON, GeoPackage, GeoParquet, the QGIS
#: style, the map page, the flagged cells' time bands and the district sheets, HTML and PDF), the
#: documents that approved it, the manifest
PUBLISHED_FILES: tuple[str, ...] = (
    "forecast.csv",
    "forecast.geojson",
    "forecast.gpkg",
    "forecast.parquet",
    "forecast.qml",
    "forecast_map.html",
    "forecast_bands.csv",
    "district_sheets.html",
    "district_sheets.pdf",
    "bias_report.html",
    "model_card.md",
    "audit.json",
    "transparency_record.md",
    "transparency_record.json",
    "manifest.json",
)


class PublishedOverride(BaseModel):
    """The ``publish.override`` a forecast was published under (approving body, date, reason,
    the gates it names and the date it expires)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approving_body: str = Field(min_length=1)
    date: dt.date
    reason: str = Field(min_length=1)
    gates: tuple[str, ...] = Field(min_length=1)
    expires: dt.date


class Manifest(Artefact):
    """One published forecast: its period, size, files, model and audit."""

    period: Period
    #: first day of the published period (``forecast_week`` / ``forecast_month`` in the file)
    forecast_period: dt.date
    n_cells: int = Field(ge=1)
    #: cells flagged at ``coverage``
    n_flagged: int = Field(ge=0)
    #: share of the study area flagged (``operational.coverage``)
    coverage: float = Field(gt=0.0, le=1.0)
    #: H3 resolution of the published cells (``panel_meta.json``)
    h3_resolution: int = Field(ge=MIN_RESOLUTION, le=MAX_RESOLUTION)
    forecast_csv_sha256: str = Field(pattern=_SHA256)
    forecast_geojson_sha256: str = Field(pattern=_SHA256)
    #: the GIS formats and the QGIS style of the same hexagons (``models.planner``), and the map
    #: page planners open offline and print; every new manifest names them, and only a
    #: publication made before they were published (which holds none of them) has None
    forecast_gpkg_sha256: str | None = Field(None, pattern=_SHA256)
    forecast_parquet_sha256: str | None = Field(None, pattern=_SHA256)
    forecast_qml_sha256: str | None = Field(None, pattern=_SHA256)
    forecast_map_sha256: str | None = Field(None, pattern=_SHA256)
    #: when in the week the flagged cells' crime falls (``models.planner.bands``); None only in
    #: a publication made before it was published
    forecast_bands_sha256: str | None = Field(None, pattern=_SHA256)
    #: a sheet per district, HTML and PDF (``models.planner.sheets``); None only in a publication
    #: made before they were published
    district_sheets_html_sha256: str | None = Field(None, pattern=_SHA256)
    district_sheets_pdf_sha256: str | None = Field(None, pattern=_SHA256)
    #: why ``forecast_bands.csv`` holds no rows (data without times of day); None when it has them
    time_bands_note: str | None = None
    bias_report_sha256: str = Field(pattern=_SHA256)
    model_card_sha256: str = Field(pattern=_SHA256)
    #: the ``audit.json`` whose verdict allowed this forecast (publish checks it against the hash
    #: DVC recorded when the audit stage wrote it)
    audit_sha256: str = Field(pattern=_SHA256)
    #: the transparency record (who answers for the forecast) that the report and card link
    transparency_record_md_sha256: str = Field(pattern=_SHA256)
    transparency_record_json_sha256: str = Field(pattern=_SHA256)
    #: the model's content hash (``model_meta.json``)
    model_version: str = Field(min_length=1)
    #: the MLflow run that trained the model
    mlflow_run_id: str = Field(min_length=1)
    #: ``<registered model>/<version>`` in the MLflow model registry
    registered_model: str = Field(pattern=r"^.+/[0-9]+$")
    audit_status: AuditStatus
    audit_publishable: bool
    override: PublishedOverride | None
    #: hash of the publish stage's params
    params_hash: str = Field(pattern=r"^[0-9a-f]+$")

    @model_validator(mode="after")
    def _planner_files_together(self) -> Self:
        planner = (
            self.forecast_gpkg_sha256,
            self.forecast_parquet_sha256,
            self.forecast_qml_sha256,
            self.forecast_map_sha256,
        )
        if len({sha is None for sha in planner}) > 1:
            raise ValueError(
                "forecast_gpkg_sha256, forecast_parquet_sha256, forecast_qml_sha256 and "
                "forecast_map_sha256 are published together: all four or none (a publication "
                "made before they existed)."
            )
        if self.forecast_bands_sha256 is not None and self.forecast_map_sha256 is None:
            raise ValueError(
                "forecast_bands_sha256 names a file published only beside the map and the GIS "
                "files; this manifest names none of them."
            )
        sheets = (self.district_sheets_html_sha256, self.district_sheets_pdf_sha256)
        if len({sha is None for sha in sheets}) > 1:
            raise ValueError(
                "district_sheets_html_sha256 and district_sheets_pdf_sha256 are published "
                "together: both or neither (a publication made before they existed)."
            )
        if sheets[0] is not None and self.forecast_bands_sha256 is None:
            raise ValueError(
                "district_sheets_html_sha256 and district_sheets_pdf_sha256 name files published "
                "only beside the map and the time bands; this manifest names neither."
            )
        return self

    def file_hashes(self) -> dict[str, str]:
        """The sha256 of each file of the set, by its name in a publication's folder
        (:data:`PUBLISHED_FILES` but the manifest itself; in a publication made before the map
        and the GIS files were published, the files it holds)."""
        hashes: dict[str, str | None] = {
            "forecast.csv": self.forecast_csv_sha256,
            "forecast.geojson": self.forecast_geojson_sha256,
            "forecast.gpkg": self.forecast_gpkg_sha256,
            "forecast.parquet": self.forecast_parquet_sha256,
            "forecast.qml": self.forecast_qml_sha256,
            "forecast_map.html": self.forecast_map_sha256,
            "forecast_bands.csv": self.forecast_bands_sha256,
            "district_sheets.html": self.district_sheets_html_sha256,
            "district_sheets.pdf": self.district_sheets_pdf_sha256,
            "bias_report.html": self.bias_report_sha256,
            "model_card.md": self.model_card_sha256,
            "audit.json": self.audit_sha256,
            "transparency_record.md": self.transparency_record_md_sha256,
            "transparency_record.json": self.transparency_record_json_sha256,
        }
        return {name: sha for name, sha in hashes.items() if sha is not None}

    @property
    def period_key(self) -> str:
        """The file's key for the forecast period: ``forecast_week`` or ``forecast_month``."""
        return f"forecast_{self.period}"

    @classmethod
    def from_json(cls, data: dict[str, Any], *, source: str = "<memory>") -> Self:
        """Validate the file's object, whose period key is named after its ``period``."""
        period = data.get("period")
        if period in PERIODS:
            key = f"forecast_{period}"
            wrong = [k for k in _PERIOD_KEYS if k in data and k != key]
            if wrong:
                raise ArtefactError(
                    f"{source}: key '{wrong[0]}' does not match period {period!r}; a {period} "
                    f"manifest names its forecast period '{key}'."
                )
            if key not in data:
                raise ArtefactError(f"{source}: key '{key}' is missing (the {period} forecast).")
            data = {k: v for k, v in data.items() if k != key} | {"forecast_period": data[key]}
        return super().from_json(data, source=source)

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data[self.period_key] = data.pop("forecast_period")
        return data
