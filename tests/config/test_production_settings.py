"""The defaults are production's: HTTPS only, Secure cookies, HSTS, and no proxy header believed
unless proxies are configured; `manage.py check --deploy` has nothing to say about them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What the test session (config/settings/test.py, the browser tests' conftest) or a developer may
# have set: a deployment that sets none of them gets the defaults under test here.
OURS = ("DEBUG", "GRANARY_HTTPS", "GRANARY_TRUSTED_PROXIES", "DJANGO_ALLOW_ASYNC_UNSAFE")


def environment(tmp_path: Path, **env: str) -> dict[str, str]:
    clean = {
        key: value for key, value in os.environ.items() if key not in OURS and not key.startswith("SECURE_")
    }
    return {
        **clean,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "GRANARY_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SECRET_KEY": "production-like-key-for-tests-only-5fe1a9c2b7d04e3f8a6b",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "testserver",
        **env,
    }


def production(tmp_path: Path, code: str, **env: str) -> dict[str, object]:
    """Run `code` in a fresh process set up like a deployment; it prints one JSON line."""
    done = subprocess.run(
        [sys.executable, "-c", "import django\ndjango.setup()\n" + code],
        cwd=ROOT,
        env=environment(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


SEEN = """
import json
from django.conf import settings
from django.test import Client, override_settings
# Plain static files: the manifest comes from `make setup`'s collectstatic, not under test here.
plain_static = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
with override_settings(STORAGES=plain_static):
    client = Client()
    plain = client.get("/accounts/login/")
    proxied = client.get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})
print(json.dumps({
    "plain": [plain.status_code, plain.get("Location")],
    "proxied": [proxied.status_code, proxied.get("Strict-Transport-Security")],
    "proxied_cookie_secure": bool(proxied.cookies.get("csrftoken") and proxied.cookies["csrftoken"]["secure"]),
}))
"""


def test_check_deploy_finds_nothing_with_the_defaults(tmp_path):
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout


def test_by_default_http_is_redirected_to_https_and_proxy_headers_are_not_believed(tmp_path):
    seen = production(tmp_path, SEEN)
    assert seen["plain"] == [301, "https://testserver/accounts/login/"]
    # X-Forwarded-Proto from anyone but a configured proxy is a client's claim: still a redirect.
    assert seen["proxied"] == [301, None]


def test_behind_a_trusted_proxy_its_https_is_believed(tmp_path):
    seen = production(tmp_path, SEEN, GRANARY_TRUSTED_PROXIES="1")
    assert seen["plain"] == [301, "https://testserver/accounts/login/"]
    assert seen["proxied"] == [200, "max-age=31536000; includeSubDomains; preload"]
    assert seen["proxied_cookie_secure"] is True


def test_a_laptop_on_plain_http_turns_https_off(tmp_path):
    seen = production(tmp_path, SEEN, GRANARY_HTTPS="false")
    assert seen["plain"] == [200, None]
    settings = production(
        tmp_path,
        """
import json
from django.conf import settings as s
print(json.dumps([s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS]))
""",
        GRANARY_HTTPS="false",
    )
    assert settings == [False, False, False, 0]
