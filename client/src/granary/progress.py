"""A progress bar on stderr for transfers, drawn only where a person watches (a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(count: float) -> str:
    unit = 0
    while count >= 1024 and unit < len(_UNITS) - 1:
        count /= 1024
        unit += 1
    return f"{count:.0f} {_UNITS[unit]}" if unit == 0 else f"{count:.1f} {_UNITS[unit]}"


class Progress:
    """`label [#####-----]  45%  450.0 MiB / 1.0 GiB  210.3 MiB/s` redrawn at most ten times a
    second. `enabled=None` draws only when the stream is a terminal, so logs stay clean."""

    def __init__(
        self,
        label: str,
        total: int | None,
        *,
        initial: int = 0,
        enabled: bool | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label = label
        self.total = total
        self.done = initial
        self._start_at = initial
        self._started = time.monotonic()
        self._drawn = 0.0
        self._closed = False

    def __enter__(self) -> Progress:
        self._draw(force=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, count: int) -> None:
        self.done += count
        self._draw()

    def restart(self, done: int = 0) -> None:
        """The transfer starts over (the server ignored a resume, or a retry from scratch)."""
        self.done = self._start_at = done
        self._started = time.monotonic()
        self._draw(force=True)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.enabled:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._drawn < 0.1:
            return
        self._drawn = now
        elapsed = max(now - self._started, 1e-6)
        rate = (self.done - self._start_at) / elapsed
        if self.total:
            fraction = min(1.0, self.done / self.total)
            bar = "#" * int(fraction * 24)
            text = (
                f"{self.label} [{bar:<24}] {fraction:4.0%}  {human_bytes(self.done)} / "
                f"{human_bytes(self.total)}  {human_bytes(rate)}/s"
            )
        else:
            text = f"{self.label}  {human_bytes(self.done)}  {human_bytes(rate)}/s"
        self.stream.write("\r" + text + " " * 4)
        self.stream.flush()
