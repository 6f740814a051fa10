"""The offline plots template: what it holds, DVC's local config, idempotence and refusals."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from dvc.config import Config
from dvc_render.html import HTML

from beatwise import offline_plots
from beatwise.offline_plots import (
    TEMPLATE_NAME,
    OfflinePlotsError,
    check_bundle_inlinable,
    install_offline_plots,
    main,
)


@pytest.fixture
def dvc_repo(tmp_path: Path) -> Path:
    """A folder DVC's config reads as a repository root: ``.dvc/config`` as ``dvc init`` writes."""
    (tmp_path / ".dvc").mkdir()
    (tmp_path / ".dvc" / "config").write_text("[core]\n    analytics = false\n", encoding="utf-8")
    return tmp_path


def local_html_template(repo: Path) -> object:
    return Config(dvc_dir=str(repo / ".dvc")).read("local").get("plots", {}).get("html_template")


def test_template_inlines_vega_embed_and_keeps_dvc_placeholders(dvc_repo: Path) -> None:
    path = install_offline_plots(dvc_repo)
    assert path == dvc_repo / ".dvc" / TEMPLATE_NAME
    page = path.read_text(encoding="utf-8")
    assert page.count("{plot_divs}") == 1
    assert "{scripts}" not in page  # DVC would put its CDN <script> tags there
    scripts = list(re.finditer(r"<script([^>]*)>(.*?)</script>", page, flags=re.DOTALL))
    assert len(scripts) == 1
    assert scripts[0].end() < page.rindex("</head>") < page.index("{plot_divs}")
    attributes, bundle = scripts[0].groups()
    assert attributes == ""  # a classic script, neither a module nor a src
    assert "window.vegaEmbed=" in bundle.replace(" ", "")
    assert len(bundle) > 500_000  # Vega, Vega-Lite and vega-embed, not a loader
    assert '"5.21.0"' in bundle  # the Vega-Lite v5 that DVC's specs declare
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, flags=re.IGNORECASE)
    assert not re.search(r"""<link[^>]*href\s*=\s*["']?https?:""", page, flags=re.IGNORECASE)
    # DVC fills it: its plot scripts follow the bundle and no CDN tag is added
    document = HTML(page)
    document.with_scripts('<script src="https://cdn.example/vega.js"></script>')
    document.with_element("<div id='p'><script>vegaEmbed('#p', {});</script></div>")
    filled = document.embed()
    assert "cdn.example" not in filled
    assert filled.index("window.vegaEmbed") < filled.index("vegaEmbed('#p'")


def test_local_config_names_the_template_and_repo_config_is_untouched(dvc_repo: Path) -> None:
    repo_config = (dvc_repo / ".dvc" / "config").read_bytes()
    assert local_html_template(dvc_repo) is None
    install_offline_plots(dvc_repo)
    assert local_html_template(dvc_repo) == TEMPLATE_NAME
    assert (dvc_repo / ".dvc" / "config").read_bytes() == repo_config
    merged = Config(dvc_dir=str(dvc_repo / ".dvc"))
    assert merged["plots"]["html_template"] == TEMPLATE_NAME


def test_second_run_rewrites_nothing(dvc_repo: Path) -> None:
    path = install_offline_plots(dvc_repo)
    local = dvc_repo / ".dvc" / "config.local"
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (path, local)}
    assert offline_plots.write_offline_template(dvc_repo) is False
    assert offline_plots.set_local_html_template(dvc_repo) is False
    install_offline_plots(dvc_repo)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (path, local)} == before
    assert sorted(p.name for p in (dvc_repo / ".dvc").iterdir()) == [
        "config",
        "config.local",
        TEMPLATE_NAME,
    ]  # no temporary file left behind


def test_a_stale_template_is_replaced_whole(dvc_repo: Path) -> None:
    path = dvc_repo / ".dvc" / TEMPLATE_NAME
    path.write_text("<html>{plot_divs}</html>", encoding="utf-8")
    assert offline_plots.write_offline_template(dvc_repo) is True
    assert path.read_text(encoding="utf-8") == offline_plots.render_template()


def test_another_local_template_is_replaced_with_a_warning(
    dvc_repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (dvc_repo / ".dvc" / "config.local").write_text(
        "[plots]\n    html_template = mine.html\n[core]\n    autostage = true\n", encoding="utf-8"
    )
    with caplog.at_level(logging.WARNING, logger="beatwise.offline_plots"):
        assert offline_plots.set_local_html_template(dvc_repo) is True
    assert "replacing plots.html_template 'mine.html'" in caplog.text
    local = Config(dvc_dir=str(dvc_repo / ".dvc")).read("local")
    assert local["plots"]["html_template"] == TEMPLATE_NAME
    assert local["core"]["autostage"] == "true"  # the rest of the local config is kept


def test_a_folder_without_dvc_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(OfflinePlotsError, match=r"is not the root of a DVC repository"):
        install_offline_plots(tmp_path)
    assert main(["--repo", str(tmp_path), "-q"]) == 2
    assert "error: " in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_vega_lite_version_is_refused(dvc_repo: Path) -> None:
    with pytest.raises(
        OfflinePlotsError, match=r"does not bundle Vega-Lite 4\.0 \(it offers .*5\."
    ):
        offline_plots.write_offline_template(dvc_repo, vl_version="4.0")
    assert not (dvc_repo / ".dvc" / TEMPLATE_NAME).exists()


@pytest.mark.parametrize(
    ("bundle", "message"),
    [
        ("var a = 1;", r"does not define vegaEmbed"),
        ("import {x} from 'y';\nwindow.vegaEmbed = x;", r"module syntax at offset 0"),
        ("window.vegaEmbed=1;\nexport default 1;", r"module syntax at offset 20"),
        ("window.vegaEmbed = '</SCRIPT>';", r"contains '</script' at offset 20"),
        ("window.vegaEmbed = '<!--';", r"contains '<!--'"),
        ("window.vegaEmbed = '{plot_divs}';", r"contains '\{plot_divs\}'"),
        ("window.vegaEmbed = '{scripts}';", r"contains '\{scripts\}'"),
    ],
)
def test_a_bundle_unsafe_to_inline_is_refused(bundle: str, message: str) -> None:
    with pytest.raises(OfflinePlotsError, match=message):
        check_bundle_inlinable(bundle)


def test_cli_writes_and_configures(dvc_repo: Path) -> None:
    assert main(["--repo", str(dvc_repo), "-q"]) == 0
    assert (dvc_repo / ".dvc" / TEMPLATE_NAME).is_file()
    assert local_html_template(dvc_repo) == TEMPLATE_NAME


def test_the_template_is_kept_out_of_git() -> None:
    ignored = (Path(__file__).resolve().parents[2] / ".dvc" / ".gitignore").read_text("utf-8")
    assert f"/{TEMPLATE_NAME}" in ignored.splitlines()
