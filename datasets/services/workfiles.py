"""Working files under `GRANARY_DATA_DIR/tmp`: uploads being received, ingest and validation
directories, copies made by fsck and storage_migrate; and sweeping those a crashed process left.

Every process removes its own working files when it ends, even on an error; only a process that
is killed (SIGKILL, the OOM killer, a machine reset) leaves them. Whether a file's owner is alive
cannot be asked across processes, so age decides: nothing that runs may hold a working file for
longer than GRANARY_TMP_GRACE_MINUTES (by default the task time limit, after which Celery kills a
task, plus an hour), counted from the newest change anywhere inside it, since live work keeps
writing. An ingest directory is named after its version, so one whose version is no longer
processing goes at once: ingest ends (or never starts) once the version is ready or failed.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings

from datasets import storage
from datasets.models import Version

logger = logging.getLogger(__name__)

# What Granary itself creates in tmp/; anything else there (an operator's file) is left alone.
PREFIXES = ("upload-", "ingest-", "validate-", "repair-", "migrate-", "demo-")
_INGEST = re.compile(r"^ingest-(\d+)-")


@dataclass
class Sweep:
    removed: list[str] = field(default_factory=list)
    bytes: int = 0
    kept: int = 0


def tmp_sweep(*, older_than: timedelta | None = None, dry_run: bool = False) -> Sweep:
    """Remove the working files of this machine's data directory that no live process can be
    using; returns what went (names and bytes) and how many were kept."""
    grace = older_than if older_than is not None else timedelta(minutes=settings.GRANARY_TMP_GRACE_MINUTES)
    cutoff = time.time() - grace.total_seconds()
    sweep = Sweep()
    entries = [entry for entry in _entries(storage.tmp_dir()) if entry.name.startswith(PREFIXES)]
    finished = _finished_ingests(entries)
    for entry in entries:
        try:
            newest, size = _newest_change_and_size(entry)
        except FileNotFoundError:
            continue  # its owner removed it meanwhile
        if newest > cutoff and entry.name not in finished:
            sweep.kept += 1
            continue
        if not dry_run:
            _remove(entry)
        sweep.removed.append(entry.name)
        sweep.bytes += size
    if sweep.removed:
        logger.warning(
            "Swept %d working files (%d bytes) left in %s: %s",
            len(sweep.removed),
            sweep.bytes,
            storage.tmp_dir(),
            ", ".join(sweep.removed[:20]),
        )
    return sweep


def _entries(directory: Path) -> list[Path]:
    try:
        return sorted(directory.iterdir())
    except FileNotFoundError:
        return []


def _finished_ingests(entries: list[Path]) -> set[str]:
    """Ingest directories whose version is no longer processing (or no longer exists)."""
    ids = {int(match.group(1)): entry.name for entry in entries if (match := _INGEST.match(entry.name))}
    if not ids:
        return set()
    processing = set(
        Version.objects.filter(pk__in=ids, status=Version.Status.PROCESSING).values_list("pk", flat=True)
    )
    return {name for version_id, name in ids.items() if version_id not in processing}


def _newest_change_and_size(path: Path) -> tuple[float, int]:
    info = path.lstat()
    newest, size = info.st_mtime, info.st_size
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                try:
                    info = os.lstat(os.path.join(root, name))
                except FileNotFoundError:
                    continue
                newest = max(newest, info.st_mtime)
                size += info.st_size if name in files else 0
    return newest, size


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
