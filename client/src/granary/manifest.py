"""Checkout manifests and the lock files that keep them (`granary.lock`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from granary.errors import ConfigError

LOCK_FORMAT = 1


@dataclass(frozen=True)
class ManifestItem:
    """One pinned version: the reference as asked for, and exactly what it resolved to."""

    ref: str
    dataset: str
    version: int
    sha256: str
    size: int
    format: str
    row_count: int | None
    filename: str
    download_url: str
    parquet_sha256: str = ""
    parquet_url: str | None = None
    parquet_size: int | None = None
    compression: str = ""

    @property
    def pinned(self) -> str:
        """The reference that names this exact version forever: `churn@3`."""
        return f"{self.dataset}@{self.version}"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ManifestItem:
        return cls(
            ref=data["ref"],
            dataset=data["dataset"],
            version=int(data["version"]),
            sha256=data["sha256"],
            size=int(data["size"]),
            format=data.get("format", ""),
            row_count=data.get("row_count"),
            filename=data.get("filename") or f"{data['dataset']}-v{data['version']}",
            download_url=data["download_url"],
            parquet_sha256=data.get("parquet_sha256") or "",
            parquet_url=data.get("parquet_url"),
            parquet_size=data.get("parquet_size"),
            compression=data.get("compression", ""),
        )


@dataclass(frozen=True)
class Manifest:
    """What a checkout resolved: its id, who made it and why, and the pinned items.

    `raw` is the server's JSON, kept whole: a lock file is that JSON plus the server's URL.
    """

    id: str
    created_at: str
    created_by: str | None
    purpose: str
    model: str
    run_id: str
    items: list[ManifestItem]
    server: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], *, server: str = "") -> Manifest:
        try:
            return cls(
                id=str(data["id"]),
                created_at=str(data["created_at"]),
                created_by=data.get("created_by"),
                purpose=data.get("purpose", ""),
                model=data.get("model", ""),
                run_id=data.get("run_id", ""),
                items=[ManifestItem.from_json(item) for item in data["items"]],
                server=server or data.get("server", ""),
                raw={key: value for key, value in data.items() if key not in ("server", "granary_lock")},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"Not a Granary manifest: {exc!r} is missing or wrong.") from None

    def to_lock(self) -> dict[str, Any]:
        return {"granary_lock": LOCK_FORMAT, "server": self.server, **self.raw}

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the lock file (atomically): commit it beside the training code."""
        target = Path(path)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_text(json.dumps(self.to_lock(), indent=2) + "\n")
        os.replace(temporary, target)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Manifest:
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"No lock file {path}: make one with `granary checkout … -o {path}`.") from None
        except ValueError as exc:
            raise ConfigError(f"{path} is not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("granary_lock") != LOCK_FORMAT:
            raise ConfigError(f"{path} is not a Granary lock file (format {LOCK_FORMAT}).")
        return cls.from_json(data)
