"""Where a sandbox account's market state lives between calls: the protocol and an in-memory one."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol


class SandboxStore(Protocol):
    """Holds one JSON state dict per account key.

    `transaction(key)` yields the state for changing in place and persists it when the block
    exits normally; one transaction per key runs at a time. The adapter replaces top-level keys
    rather than mutating nested values, so a store may hand out a shallow copy.
    """

    def transaction(self, account_key: str) -> AbstractContextManager[dict[str, Any]]: ...


class InMemorySandboxStore:
    """A store for tests and single-process use.

    Behaves like a database row: each transaction works on a copy that is committed only if the
    block exits without an exception, and a state that is not plain JSON is refused on commit.
    """

    def __init__(self, states: dict[str, dict[str, Any]] | None = None) -> None:
        self._states: dict[str, str] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.commits = 0
        for key, state in (states or {}).items():
            self.put(key, state)

    def _lock(self, account_key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(account_key, threading.Lock())

    def put(self, account_key: str, state: dict[str, Any]) -> None:
        with self._lock(account_key):
            self._states[account_key] = json.dumps(state, allow_nan=False)

    def get(self, account_key: str) -> dict[str, Any]:
        """A copy of the committed state ({} when there is none)."""
        with self._lock(account_key):
            raw = self._states.get(account_key)
        return {} if raw is None else dict(json.loads(raw))

    @contextmanager
    def transaction(self, account_key: str) -> Iterator[dict[str, Any]]:
        with self._lock(account_key):
            raw = self._states.get(account_key)
            working: dict[str, Any] = {} if raw is None else json.loads(raw)
            yield working
            # Serialising on commit proves the state survives a JSON database column.
            self._states[account_key] = json.dumps(working, allow_nan=False)
            self.commits += 1
