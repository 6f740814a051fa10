"""Provenance tags: params hash, dvc.lock md5s, experiment name, git state; training-run reuse."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines._tracking import (
    EXPERIMENT_NAME,
    REGISTERED_MODEL_NAME,
    find_reusable_train_run,
    flatten_metrics,
    git_state,
    input_md5s,
    provenance_tags,
    record_reproduction,
    run_name,
    track_publication,
    track_training,
)


def test_md5_comes_from_dvc_lock_or_is_computed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.parquet").write_bytes(b"abc")
    (tmp_path / "b.parquet").write_bytes(b"xyz")
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  s:\n    cmd: x\n    outs:\n"
        "    - path: a.parquet\n      md5: 0123456789abcdef\n"
    )
    md5s = input_md5s([Path("a.parquet"), Path("b.parquet"), Path("missing.parquet")])
    assert md5s == {
        "a.parquet": "0123456789abcdef",
        "b.parquet": hashlib.md5(b"xyz", usedforsecurity=False).hexdigest(),
    }


def test_tags_carry_stage_params_hash_and_experiment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not a git repository
    monkeypatch.setenv("DVC_EXP_NAME", "lr01")
    (tmp_path / "x.json").write_text("{}")
    tags = provenance_tags(stage="train", params_digest="feed", inputs=[Path("x.json")])
    assert tags["stage"] == "train"
    assert tags["params_hash"] == "feed"
    assert tags["dvc_experiment"] == "lr01"
    assert tags["git_commit"] == "unknown"
    assert "input_md5.x.json" in tags
    assert run_name(tags) == "train · exp lr01"


@pytest.mark.parametrize(
    ("tags", "name"),
    [
        (
            {"stage": "evaluate", "git_commit": "6dd091c0ffee", "git_dirty": "false"},
            "evaluate · 6dd091c",
        ),
        (
            {"stage": "audit", "git_commit": "6dd091c0ffee", "git_dirty": "true"},
            "audit · 6dd091c + changes",
        ),
        (
            {"stage": "train", "git_commit": "unknown", "git_dirty": "unknown"},
            "train · outside git",
        ),
    ],
)
def test_run_names_tell_two_runs_of_a_stage_apart(tags: dict[str, str], name: str) -> None:
    assert run_name(tags) == name


def test_flatten_metrics_skips_nan_and_text() -> None:
    flat = flatten_metrics({"a": 1, "b": {"c": 2.5, "d": "x", "e": float("nan")}, "f": True})
    assert flat == {"a": 1.0, "b.c": 2.5, "f": 1.0}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One SQLite store (creating it takes seconds) holding a run for each case, by name.

    Each case has its own ``model_version``, so cases cannot find each other's runs. Versions are
    registered against the run's (empty) artifact folder: the search reads the registry, never the
    model.
    """
    folder = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
        from mlflow.tracking import MlflowClient

        client = MlflowClient()
        experiment_id = client.create_experiment(EXPERIMENT_NAME)
        client.create_registered_model(REGISTERED_MODEL_NAME)

        def train_run(
            model_version: str,
            *,
            params_hash: str = "feed",
            start_time: int = 1_000,
            register: bool = True,
            finish: bool = True,
            stage: str = "train",
        ) -> str:
            run = client.create_run(
                experiment_id,
                start_time=start_time,
                tags={"stage": stage, "model_version": model_version, "params_hash": params_hash},
            )
            run_id = run.info.run_id
            if finish:
                client.set_terminated(run_id)
            if register:
                client.create_model_version(
                    REGISTERED_MODEL_NAME, source=run.info.artifact_uri, run_id=run_id
                )
            return run_id

        runs = {
            "same": train_run("aaa"),
            # two identical models logged twice: the earliest start wins, whatever the order
            "later": train_run("bbb", start_time=2_000),
            "earlier": train_run("bbb", start_time=1_500),
            "unregistered": train_run("ccc", register=False),
            "deleted": train_run("ddd"),
            "version_deleted": train_run("0001"),
            "running": train_run("eee", finish=False),
            "evaluate": train_run("fff", stage="evaluate"),
        }
        client.delete_run(runs["deleted"])
        for version in client.search_model_versions(f"run_id = '{runs['version_deleted']}'"):
            client.delete_model_version(REGISTERED_MODEL_NAME, version.version)
        yield runs


def test_reuses_the_run_of_the_same_model_and_params(store: dict[str, str]) -> None:
    found = find_reusable_train_run("aaa", "feed")
    assert found is not None
    run_id, version = found
    assert run_id == store["same"]
    from mlflow.tracking import MlflowClient

    registered = MlflowClient().get_model_version(REGISTERED_MODEL_NAME, version)
    assert registered.run_id == store["same"]


def test_takes_the_earliest_of_several_identical_runs(store: dict[str, str]) -> None:
    found = find_reusable_train_run("bbb", "feed")
    assert found is not None and found[0] == store["earlier"]


@pytest.mark.parametrize(
    ("model_version", "params_digest"),
    [
        ("abcabc", "feed"),  # another model
        ("aaa", "beef"),  # the same model text under other params
        ("ccc", "feed"),  # never registered
        ("0001", "feed"),  # its registered version was deleted
        ("ddd", "feed"),  # a deleted run
        ("eee", "feed"),  # a run that never finished
        ("fff", "feed"),  # not a training run
    ],
)
def test_no_reuse_without_a_matching_finished_registered_run(
    store: dict[str, str], model_version: str, params_digest: str
) -> None:
    assert find_reusable_train_run(model_version, params_digest) is None


def test_no_experiment_means_no_reuse(
    store: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pipelines._tracking.EXPERIMENT_NAME", "not-beatwise")
    assert find_reusable_train_run("aaa", "feed") is None


def test_refuses_digests_that_are_not_hex() -> None:
    with pytest.raises(ValueError, match=r"model_version must be a lowercase hex digest\. Got"):
        find_reusable_train_run("a' or '1' = '1", "feed")
    with pytest.raises(ValueError, match=r"params_digest must be a lowercase hex digest\. Got ''"):
        find_reusable_train_run("aaa", "")


def test_reproductions_are_counted_on_the_run(store: dict[str, str]) -> None:
    from mlflow.tracking import MlflowClient

    assert record_reproduction(store["later"]) == 1
    assert record_reproduction(store["later"]) == 2
    assert MlflowClient().get_run(store["later"]).data.tags["reproduced_count"] == "2"


def test_training_reuses_the_identical_run_and_points_the_candidate_alias(
    store: dict[str, str],
) -> None:
    from mlflow.tracking import MlflowClient

    # the reuse path logs nothing, so it never touches the model or the rows
    run_id, version = track_training(
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        model_version="aaa",
        params_digest="feed",
        run_params={},
        inputs=[],
        importance_plot=Path("absent.png"),
        point_candidate=True,
    )
    assert run_id == store["same"]
    client = MlflowClient()
    assert (
        str(client.get_model_version_by_alias(REGISTERED_MODEL_NAME, "candidate").version)
        == version
    )
    assert client.get_run(run_id).data.tags["reproduced_count"] == "1"


def test_publication_is_a_run_under_the_training_run(store: dict[str, str], tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    csv = tmp_path / "forecast.csv"
    csv.write_text("h3_cell\n")
    track_publication(
        csv,
        audit_status="pass",
        status="published",
        registered_version="1",
        params_digest="feed",
        inputs=[csv],
        parent_run_id=store["same"],
    )
    client = MlflowClient()
    assert str(client.get_model_version_by_alias(REGISTERED_MODEL_NAME, "published").version) == "1"
    children = client.search_runs(
        [client.get_run(store["same"]).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{store['same']}'",
    )
    assert [
        (r.data.tags["stage"], r.data.tags["audit_status"], r.data.tags["publication"])
        for r in children
    ] == [("publish", "pass", "published")]
    assert [a.path for a in client.list_artifacts(children[0].info.run_id, "forecast")] == [
        "forecast/forecast.csv"
    ]


def test_an_experiment_moves_neither_alias(store: dict[str, str], tmp_path: Path) -> None:
    """An experiment's model is registered and its forecast logged, but ``candidate`` and
    ``published`` keep naming the committed configuration's model."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    for alias in ("candidate", "published"):
        client.set_registered_model_alias(REGISTERED_MODEL_NAME, alias, "1")
    _, version = track_training(
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        model_version="bbb",
        params_digest="feed",
        run_params={},
        inputs=[],
        importance_plot=Path("absent.png"),
        point_candidate=False,
    )
    assert version != "1"
    csv = tmp_path / "forecast.csv"
    csv.write_text("h3_cell\n")
    track_publication(
        csv,
        audit_status="pass",
        status="candidate",
        registered_version=version,
        params_digest="feed",
        inputs=[csv],
        parent_run_id=store["earlier"],
    )
    for alias in ("candidate", "published"):
        assert str(client.get_model_version_by_alias(REGISTERED_MODEL_NAME, alias).version) == "1"


def test_a_run_s_own_dvc_lock_does_not_make_the_tree_dirty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for args in (
        ["init", "-q"],
        ["config", "user.email", "t@e.invalid"],
        ["config", "user.name", "t"],
    ):
        subprocess.run(["git", *args], check=True)
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")
    (tmp_path / "params.yaml").write_text("a: 1\n")
    subprocess.run(["git", "add", "dvc.lock", "params.yaml"], check=True)
    subprocess.run(["git", "commit", "-q", "-m", "x"], check=True)
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")  # as DVC rewrites it
    assert git_state()["git_dirty"] == "false"
    (tmp_path / "params.yaml").write_text("a: 2\n")
    assert git_state()["git_dirty"] == "true"
