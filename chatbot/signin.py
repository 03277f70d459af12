"""Sign-in attempts for the staff and content pages, shared by every browser session.

A per-session pause slows one guesser down; four browser tabs guess four times as fast.
This module keeps the recent failures per page in one small JSON file in the state
directory (``signin-failures.json``, this module owns its format), guarded by a file
lock, so every session and every app process on the host sees the same count. After
``max_failures`` wrong passwords within ``window`` seconds the page refuses every
attempt, right or wrong, for ``lockout`` seconds. Nothing about the password is stored.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

log = logging.getLogger(__name__)

FILE_NAME = "signin-failures.json"
MIN_PASSWORD_CHARS = 12


def password_problem(password: str, area: str) -> str | None:
    """Why a configured password cannot be used, or None."""
    if len(password) < MIN_PASSWORD_CHARS:
        return (
            f"The {area} password is too short ({len(password)} characters). Set "
            f"CHATBOT_{area.upper()}_PASSWORD to at least {MIN_PASSWORD_CHARS} characters "
            "and restart the app."
        )
    return None


@dataclass(frozen=True)
class Attempts:
    """The sign-in guard of one state directory."""

    folder: Path
    max_failures: int = 5
    window: float = 15 * 60.0
    lockout: float = 15 * 60.0

    @property
    def path(self) -> Path:
        return self.folder / FILE_NAME

    def _read(self) -> dict[str, list[float]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            str(k): [float(t) for t in v if isinstance(t, int | float)]
            for k, v in data.items()
            if isinstance(v, list)
        }

    def _write(self, data: dict[str, list[float]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)

    def _recent(self, data: dict[str, list[float]], area: str, now: float) -> list[float]:
        return [t for t in data.get(area, []) if now - t < max(self.window, self.lockout)]

    def locked_for(self, area: str, now: float | None = None) -> float:
        """Seconds until the page accepts attempts again (0: it does now)."""
        now = time.time() if now is None else now
        with FileLock(str(self.path) + ".lock", timeout=10):
            failures = self._recent(self._read(), area, now)
        in_window = [t for t in failures if now - t < self.window]
        if len(in_window) < self.max_failures:
            return 0.0
        return max(0.0, in_window[-1] + self.lockout - now)

    def failed(self, area: str, now: float | None = None) -> int:
        """Record a wrong password; how many failures the page has had recently."""
        now = time.time() if now is None else now
        with FileLock(str(self.path) + ".lock", timeout=10):
            data = self._read()
            failures = [*self._recent(data, area, now), now]
            data[area] = failures
            self._write(data)
        log.warning("sign-in failed on the %s page (%d recent failures)", area, len(failures))
        return len(failures)

    def succeeded(self, area: str) -> None:
        log.info("signed in to the %s page", area)
        with FileLock(str(self.path) + ".lock", timeout=10):
            data = self._read()
            if data.pop(area, None) is not None:
                self._write(data)
