"""Configuration from the environment: bad values stop the start with the variable's name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "GRANARY_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SECRET_KEY": "test-only-secret-key-test-only-secret-key-0123456789",
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
        ("GRANARY_MAX_UPLOAD_BYTES", "lots", "GRANARY_MAX_UPLOAD_BYTES='lots' is not a size"),
        ("GRANARY_MAX_UPLOAD_BYTES", "0", "GRANARY_MAX_UPLOAD_BYTES='0' must be greater than zero"),
        ("DATABASE_URL", "mysql://db/granary", "DATABASE_URL='mysql://db/granary': Granary supports"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL='localhost:6379' is not a Redis URL"),
        ("ALLOWED_HOSTS", " , ", "ALLOWED_HOSTS is set but empty"),
        ("GRANARY_ANONYMOUS_READ", "sometimes", "GRANARY_ANONYMOUS_READ='sometimes' is not a boolean"),
        ("GRANARY_SENDFILE", "nginx", "GRANARY_SENDFILE='nginx' must be one of"),
        ("GRANARY_TRUSTED_PROXIES", "-1", "GRANARY_TRUSTED_PROXIES='-1' must be at least 0"),
        ("GRANARY_LOGIN_FAILURE_LIMIT", "0", "GRANARY_LOGIN_FAILURE_LIMIT='0' must be at least 1"),
        ("GRANARY_LOGIN_COOLOFF_MINUTES", "soon", "GRANARY_LOGIN_COOLOFF_MINUTES='soon' is not a whole"),
        ("GRANARY_HTTPS", "maybe", "GRANARY_HTTPS='maybe' is not a boolean"),
    ],
)
def test_a_bad_value_fails_at_start_naming_the_variable(tmp_path, variable, value, message):
    result = start(tmp_path, **{variable: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_good_values_start(tmp_path):
    result = start(
        tmp_path,
        DEBUG="false",
        GRANARY_MAX_UPLOAD_BYTES="5G",
        DATABASE_URL=f"sqlite:///{tmp_path / 'other.sqlite3'}",
        REDIS_URL="redis://127.0.0.1:6399/1",
        ALLOWED_HOSTS="granary.example.org",
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_sizes_accept_units():
    from config.settings.env import env_size

    os.environ["GRANARY_TEST_SIZE"] = "500M"
    try:
        assert env_size("GRANARY_TEST_SIZE", 1) == 500 * 1024**2
    finally:
        del os.environ["GRANARY_TEST_SIZE"]


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("postgres://granary@db:5432/granary", 60),
        ("postgres://granary@db:5432/granary?conn_max_age=0", 0),
        ("sqlite:///var/granary.sqlite3", 60),
        ("sqlite:///var/granary.sqlite3?conn_max_age=0", 0),
    ],
)
def test_connections_are_kept_and_postgresqls_checked_unless_the_url_says_otherwise(tmp_path, url, kept):
    """A web thread keeps its database connection a minute (a new PostgreSQL backend per request
    cost a third of a search's time; a new SQLite connection 3-4 ms of CPU) and checks a
    PostgreSQL one before reuse; `?conn_max_age=0` opts out."""
    code = (
        "from django.conf import settings; d = settings.DATABASES['default']; "
        "print(d.get('CONN_MAX_AGE', 0), d.get('CONN_HEALTH_CHECKS', False))"
    )
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "GRANARY_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": url,
        "SECRET_KEY": "test-only-secret-key-test-only-secret-key-0123456789",
    }
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    max_age, checked = result.stdout.split()
    assert int(max_age) == kept
    assert checked == ("True" if url.startswith("postgres") else "False")
