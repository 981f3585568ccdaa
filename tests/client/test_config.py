"""Where the client finds its server, token and cache, and how `login` keeps the token."""

from __future__ import annotations

import json
import os
import stat

import pytest
from granary import Client, ConfigError, Manifest
from granary.config import config_save, settings_resolve


def test_login_config_is_written_for_its_owner_only(client_home):
    old = os.umask(0o022)
    try:
        path = config_save({"url": "https://granary.example.org", "token": "gra_secret"})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text())["token"] == "gra_secret"


def test_a_saved_token_is_sent_only_to_the_server_that_issued_it(client_home, monkeypatch):
    config_save({"url": "https://granary.example.org", "token": "gra_saved"})
    assert settings_resolve().token == "gra_saved"
    assert settings_resolve("https://granary.example.org/").token == "gra_saved"
    assert settings_resolve("https://elsewhere.example.org").token is None
    monkeypatch.setenv("GRANARY_URL", "https://elsewhere.example.org")
    assert settings_resolve().token is None


def test_arguments_win_over_the_environment_which_wins_over_the_file(client_home, monkeypatch):
    config_save({"url": "https://file.example.org", "token": "gra_file"})
    monkeypatch.setenv("GRANARY_URL", "https://env.example.org")
    monkeypatch.setenv("GRANARY_TOKEN", "gra_env")
    assert settings_resolve() == settings_resolve("https://env.example.org", "gra_env")
    assert settings_resolve("https://arg.example.org", "gra_arg").token == "gra_arg"
    client = Client()
    assert client.url == "https://env.example.org"
    assert client.session.headers["Authorization"] == "Bearer gra_env"
    assert client.cache.root == client_home / "cache"


def test_no_server_anywhere_is_a_clear_error(client_home):
    with pytest.raises(ConfigError, match="GRANARY_URL"):
        Client()


def test_a_file_that_is_not_a_lock_is_refused(tmp_path):
    (tmp_path / "x.lock").write_text('{"items": []}')
    with pytest.raises(ConfigError, match="not a Granary lock file"):
        Manifest.load(tmp_path / "x.lock")
