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
