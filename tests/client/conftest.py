"""Fixtures for the client and CLI: a private config file and cache, a live server, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from accounts.services import token_create


@pytest.fixture(autouse=True)
def client_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The client's config file and cache live in the test's directory, never in ~."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("GRANARY_CONFIG", str(home / "config" / "granary.json"))
    monkeypatch.setenv("GRANARY_CACHE_DIR", str(home / "cache"))
    monkeypatch.delenv("GRANARY_URL", raising=False)
    monkeypatch.delenv("GRANARY_TOKEN", raising=False)
    return home


@pytest.fixture
def token() -> Callable[..., str]:
    """A token for `user`; write scope unless told, so what the tests see are the user's rights."""

    def make(user: Any, scope: str = "write") -> str:
        return token_create(user=user, name="client tests", scope=scope).secret

    return make


def big_csv(rows: int) -> bytes:
    """A CSV of ints, floats, text, booleans and a few nulls: about 60 bytes a row."""
    lines = [b"id,sensor,reading,label,ok"]
    for i in range(rows):
        reading = "" if i % 97 == 0 else f"{(i * 7919) % 100000 / 100:.2f}"
        lines.append(
            f"{i},sensor-{i % 37:02d},{reading},note number {i % 1013},{'true' if i % 3 else 'false'}".encode()
        )
    return b"\n".join(lines) + b"\n"


@pytest.fixture
def cli(client_home: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed CLI (`python -m granary`) as a separate process, as a user would."""

    def run(
        *args: str, input: str | None = None, env: dict[str, str] | None = None, check: int | None = 0
    ) -> Any:
        result = subprocess.run(
            [sys.executable, "-m", "granary", *args],
            input=input,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=120,
        )
        if check is not None:
            assert result.returncode == check, (
                f"granary {' '.join(args)} exited {result.returncode}, expected {check}:\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    return run
