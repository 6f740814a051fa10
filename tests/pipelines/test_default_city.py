"""The default synthetic city, run as the README's first command runs it: the audit decides.

One ``dvc repro`` of the committed ``params.yaml`` (about 80 s on 2 cores) in a temporary copy of
the repository. The checks are the audit issue's "done when": the default run publishes with no
override and no envelope, every hard gate passing or in review on its own merits; the true risk
passes every hard gate; and METRICS.md's canaries (the true risk multiplied by
``1 + 0.5 * minority share`` or by ``1 + 0.5 * share in the most deprived fifth``, each with and
without rescaling) each FAIL a hard gate, which is the audit's power on the synthetic city.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from repo_copy import copy_repo, run

from beatwise.artefacts.audit import AuditReport
from beatwise.publications import read_latest, verify_publication

pytestmark = pytest.mark.e2e

HARD_GATES = ("G1", "G2", "G3", "G4", "G5", "G6", "G8", "G9", "G10")


@pytest.fixture(scope="module")
def default_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = copy_repo(tmp_path_factory.mktemp("beatwise") / "repo")
    (repo / "dvc.lock").unlink(missing_ok=True)
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "default city"], repo)
    run(["dvc", "repro"], repo)
    return repo


def test_the_default_params_carry_no_override_and_no_envelope(default_city: Path) -> None:
    params = yaml.safe_load((default_city / "params.yaml").read_text(encoding="utf-8"))
    assert params["publish"]["override"] is None
    assert params["audit"].get("envelope") is None


def test_the_default_run_publishes_on_its_own_merits(default_city: Path) -> None:
    audit = AuditReport.read(default_city / "reports/audit.json")
    assert audit.publishable and audit.override_applied is None, audit.blocking_gates
    assert audit.blocking_gates == ()
    for gid in HARD_GATES:
        assert audit.gates[gid].status in {"PASS", "REVIEW"}, (gid, audit.gates[gid].explanation)
    assert audit.reference.label == "the true risk"
    latest = read_latest(default_city / "data/published")
    assert latest is not None  # the committed configuration, by dvc repro: published
    manifest = verify_publication(default_city / "data/published" / latest.folder)
    assert manifest.override is None and manifest.audit_status in {"pass", "pass with review"}


def test_the_true_risk_passes_every_hard_gate(default_city: Path) -> None:
    audit = AuditReport.read(default_city / "reports/audit.json")
    assert audit.counterfactuals is not None
    truth = audit.counterfactuals["true risk"]
    assert all(truth[g].status == "PASS" for g in ("G2", "G3", "G4", "G5", "G6")), truth
    assert audit.power is not None and audit.power.base_failed == ()


def test_every_canary_fails_a_hard_gate_at_half(default_city: Path) -> None:
    audit = AuditReport.read(default_city / "reports/audit.json")
    assert audit.power is not None
    canaries = {c.canary: c for c in audit.power.canaries}
    assert set(canaries) == {
        "minority",
        "minority_rescaled",
        "most_deprived",
        "most_deprived_rescaled",
    }
    for name, canary in canaries.items():
        assert canary.failed_at_half, f"canary {name} passes every hard gate at beta 0.5"
        assert canary.smallest_beta_caught is not None and canary.smallest_beta_caught <= 0.5
    # the flags moved toward the most deprived fifth are caught by an amplification gate too
    assert {"G2", "G5"} & set(canaries["most_deprived_rescaled"].failed_at_half)
    raw = json.loads((default_city / "reports/audit.json").read_text(encoding="utf-8"))
    assert raw["power"]["canaries"][0]["label"].startswith("cells where")
