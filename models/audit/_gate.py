"""One gate's outcome while the audit works, and its typed form in ``audit.json``."""

from __future__ import annotations

from dataclasses import dataclass, field

from beatwise.artefacts.audit import BandCheck, Check, Gate, GateKind
from models.audit._catalogue import GATE_CHECKS, GATE_KINDS, GATE_TITLES, Status


@dataclass(frozen=True)
class GateResult:
    """One gate's outcome; ``value`` and ``ci_*`` belong to the comparison named in ``deciding``.

    ``by_group`` maps a section (attribute, stratum spec, ...) to labels to one comparison each
    (with a 95% interval for judged figures, without for exact checks).
    """

    gate: str
    status: Status
    value: float | None
    ci_low: float | None
    ci_high: float | None
    band: str
    explanation: str
    by_group: dict[str, dict[str, BandCheck | Check]] = field(default_factory=dict)
    deciding: str | None = None
    #: the deciding group's or stratum's plain-English label (None for other comparisons)
    deciding_label: str | None = None

    @property
    def kind(self) -> GateKind:
        return GATE_KINDS[self.gate]

    def to_gate(self) -> Gate:
        """The gate as ``audit.json`` records it, with its title and plain-words check."""
        return Gate(
            status=self.status,
            value=self.value,
            ci_low=self.ci_low,
            ci_high=self.ci_high,
            band=self.band,
            kind=self.kind,
            title=GATE_TITLES[self.gate],
            checks=GATE_CHECKS[self.gate],
            explanation=self.explanation,
            deciding=self.deciding,
            deciding_label=self.deciding_label,
            by_group=self.by_group,
        )
