"""Where the client finds its server, token and cache: arguments, then environment variables,
then the configuration file that `granary login` writes (readable by its owner only)."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from granary.errors import ConfigError

URL_ENV = "GRANARY_URL"
TOKEN_ENV = "GRANARY_TOKEN"  # noqa: S105 (a variable name, not a secret)
CONFIG_ENV = "GRANARY_CONFIG"  # the configuration file's path
CACHE_ENV = "GRANARY_CACHE_DIR"


def config_path() -> Path:
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "granary" / "config.json"


def cache_dir() -> Path:
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "granary"


def config_load() -> dict[str, Any]:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"Cannot read {path}: {exc}. Run `granary login` again.") from None
    return data if isinstance(data, dict) else {}


def config_save(data: dict[str, Any]) -> Path:
    """Write the configuration atomically, created 0600 so the token is never readable by others."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)  # whatever the umask or an older file said
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    return path


@dataclass(frozen=True)
class Settings:
    url: str
    token: str | None


def settings_resolve(url: str | None = None, token: str | None = None) -> Settings:
    """The server and token to use. A token from the configuration file is only sent to the server
    it was issued by, never to another URL given on the command line or in GRANARY_URL."""
    saved = config_load()
    chosen = url or os.environ.get(URL_ENV) or saved.get("url")
    if not chosen:
        raise ConfigError(
            "No Granary server: pass the URL, set GRANARY_URL, or run `granary login https://granary.example.org`."
        )
    chosen = str(chosen).rstrip("/")
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    if token is None and str(saved.get("url", "")).rstrip("/") == chosen:
        token = saved.get("token") or None
    return Settings(url=chosen, token=token)
