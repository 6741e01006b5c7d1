from __future__ import annotations

from pathlib import Path

import pytest

from fimiwatch.config import DEFAULT_LANGUAGES, load_settings


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.db == Path("fimiwatch.duckdb")
    assert settings.languages == DEFAULT_LANGUAGES
    assert settings.quarantine_path == Path("fimiwatch.quarantine.jsonl")


def test_toml_then_environment_then_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "fimiwatch.toml"
    config.write_text(
        'db = "from-toml.duckdb"\nlanguages = ["en", "cs"]\n[ingest]\nmax_record_bytes = 10\n'
    )
    settings = load_settings(config)
    assert settings.db == Path("from-toml.duckdb")
    assert settings.languages == ("en", "cs")
    assert settings.ingest.max_record_bytes == 10
    monkeypatch.setenv("FIMIWATCH_DB", "from-env.duckdb")
    monkeypatch.setenv("FIMIWATCH_LANGUAGES", "de,fr")
    settings = load_settings(config)
    assert settings.db == Path("from-env.duckdb") and settings.languages == ("de", "fr")
    assert load_settings(config, db=Path("arg.duckdb")).db == Path("arg.duckdb")


def test_unknown_setting_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "fimiwatch.toml"
    config.write_text("colour = 'blue'\n")
    with pytest.raises(ValueError, match="unknown setting 'colour'"):
        load_settings(config)


def test_detector_parameters_come_from_the_settings_file(tmp_path: Path) -> None:
    from tests.test_cli import fimiwatch

    (tmp_path / "fimiwatch.toml").write_text(
        '[detectors.narratives]\nmin_surge_items = 7\nplatforms = ["twitter"]\n'
    )
    settings = load_settings(tmp_path / "fimiwatch.toml")
    assert settings.detectors == {"narratives": {"min_surge_items": 7, "platforms": ["twitter"]}}
    assert fimiwatch("run", "--only", "narratives", cwd=tmp_path).returncode == 0
    (tmp_path / "fimiwatch.toml").write_text("[detectors.narratives]\nsurge = 3\n")
    bad = fimiwatch("run", "--only", "narratives", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown parameter(s) surge" in bad.stderr
    (tmp_path / "fimiwatch.toml").write_text("[detectors.nope]\nx = 1\n")
    unknown = fimiwatch("run", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown detector(s): nope" in unknown.stderr
    (tmp_path / "fimiwatch.toml").write_text("detectors = 3\n")
    with pytest.raises(ValueError, match=r"\[detectors.NAME\] must be tables"):
        load_settings(tmp_path / "fimiwatch.toml")
