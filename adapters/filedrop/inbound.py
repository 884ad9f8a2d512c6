"""The hot folder in: take complete files from ``inbox_dir``, submit what they hold, and file
them under done/ or failed/ with an outcome file.

A file's journey: inbox/ -> processing/ -> (submit) -> done/ | failed/. Each submission's
idempotency key is ``<adapter>:<file name>:<sha256 of the content>:<n>``, so a file found in
processing/ after a crash is submitted again without being sent twice, and the same file
dropped twice (same name, same bytes) is one message.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from hub.adapter import HubHandle
from hub.errors import SubmitError, TransientError

from ..common.files import free_name, rename
from ..common.submission import InvalidSubmission
from .config import FiledropConfig
from .outcomes import INVALID, REFUSED, TOO_LARGE, UNREADABLE, OutcomeBook, outcome_path

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # files are hashed and read a MiB at a time


@dataclass(frozen=True)
class Entry:
    name: str
    size: int
    mtime_ns: int


class Settler:
    """Decides when a file is complete: its modification time is at least ``settle_time`` old
    (a file moved into place usually is), or its size and modification time have not changed
    for ``settle_time`` while we watched (in case the file system's clock runs ahead)."""

    def __init__(self, settle_time: float) -> None:
        self.settle_time = settle_time
        self._seen: dict[str, tuple[int, int, float]] = {}

    def ready(self, entries: list[Entry], now: float, monotonic: float) -> list[Entry]:
        complete, seen = [], {}
        for e in entries:
            size, mtime_ns, since = self._seen.get(e.name, (None, None, monotonic))
            if (size, mtime_ns) != (e.size, e.mtime_ns):
                since = monotonic
            seen[e.name] = (e.size, e.mtime_ns, since)
            if (now - e.mtime_ns / 1e9 >= self.settle_time
                    or monotonic - since >= self.settle_time):
                complete.append(e)
        self._seen = seen
        return complete


def scan(folder: Path, pattern: str, ignore: list[str]) -> list[Entry]:
    """Regular files in ``folder`` matching ``pattern``, oldest first; no dotfiles, nothing
    matching ``ignore``, no subfolders (processing/, done/ and failed/ may live there)."""
    entries = []
    with os.scandir(folder) as listing:
        for item in listing:
            name = item.name
            if (name.startswith(".") or not fnmatchcase(name, pattern)
                    or any(fnmatchcase(name, g) for g in ignore)):
                continue
            try:
                if not item.is_file():
                    continue
                st = item.stat()
            except FileNotFoundError:
                continue  # taken away while we looked
            entries.append(Entry(name, st.st_size, st.st_mtime_ns))
    entries.sort(key=lambda e: (e.mtime_ns, e.name))
    return entries


def read_bounded(path: Path, max_bytes: int) -> tuple[bytes | None, str, int]:
    """``(content, sha256 hex, size)``; content is None when the file is over ``max_bytes``,
    which is then hashed a chunk at a time and never held in memory whole."""
    digest = hashlib.sha256()
    chunks: list[bytes] | None = []
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if chunks is not None:
                chunks.append(chunk)
                if size > max_bytes:
                    chunks = None
    return (None if chunks is None else b"".join(chunks)), digest.hexdigest(), size


class Inbound:
    def __init__(self, name: str, config: FiledropConfig, hub: HubHandle,
                 outcomes: OutcomeBook) -> None:
        assert config.inbox_dir is not None
        self.name = name
        self.config = config
        self.hub = hub
        self.outcomes = outcomes
        self.inbox = config.inbox_dir
        self.processing, self.done, self.failed = (config.work / d for d in
                                                   ("processing", "done", "failed"))
        self.decode = config.decoder()
        self.settler = Settler(config.settle_time)

    async def run(self) -> None:
        await asyncio.to_thread(self._prepare)
        # Files left in processing/ by a crash go first, with the same idempotency keys.
        for leftover in sorted(await asyncio.to_thread(os.listdir, self.processing)):
            log.info("filedrop %s: resubmitting %s left in processing/", self.name, leftover)
            await self.process(self.processing / leftover)
        await self.outcomes.refresh_all()
        while True:
            try:
                entries = await asyncio.to_thread(scan, self.inbox, self.config.pattern,
                                                  self.config.ignore)
            except OSError as exc:
                raise TransientError(f"cannot list inbox_dir {self.inbox}: {exc}") from None
            for entry in self.settler.ready(entries, time.time(), time.monotonic()):
                await self.take(entry.name)
            await asyncio.sleep(self.config.poll_interval)

    def _prepare(self) -> None:
        if not self.inbox.is_dir():
            raise TransientError(f"inbox_dir {self.inbox} is not a folder (not mounted yet?)")
        for folder in (self.processing, self.done, self.failed):
            folder.mkdir(exist_ok=True)

    async def take(self, name: str) -> None:
        """Move one complete file into processing/ and process it."""
        target = self.processing / name
        if target.exists():  # only after a failed step: processed on the next start
            return
        try:
            await asyncio.to_thread(rename, self.inbox / name, target)
        except FileNotFoundError:
            return  # the local system took it back
        except OSError as exc:
            raise TransientError(f"cannot move {name} into {self.processing}: {exc}") from None
        await self.process(target)

    async def process(self, path: Path) -> None:
        name = path.name
        try:
            content, sha256, size = await asyncio.to_thread(read_bounded, path,
                                                            self.config.max_bytes)
        except OSError as exc:
            return await self._file(path, None, [], UNREADABLE,
                                    f"cannot read {name}: {exc.strerror or exc}")
        if content is None:
            return await self._file(path, sha256, [], TOO_LARGE,
                                    f"{name} is {size} bytes, more than max_bytes "
                                    f"({self.config.max_bytes})")
        try:
            submissions = self.decode(content)
        except InvalidSubmission as exc:
            return await self._file(path, sha256, [], INVALID, f"{name}: {exc}")
        ids: list[str] = []
        for n, s in enumerate(submissions):
            try:
                submitted = await self.hub.submit(
                    s.type, s.body, to=s.to, correlation_id=s.correlation_id, ttl=s.ttl,
                    idempotency_key=f"{self.name}:{name}:{sha256}:{n}")
            except SubmitError as exc:
                return await self._file(path, sha256, ids, REFUSED, f"{name}: {exc}")
            ids += submitted.ids
        await self._file(path, sha256, ids)

    async def _file(self, path: Path, sha256: str | None, ids: list[str],
                    reason: str | None = None, detail: str | None = None) -> None:
        """Write the outcome file, then move the file beside it (done/ or failed/)."""
        folder = self.failed if reason else self.done
        target = await asyncio.to_thread(free_name, folder, path.name)
        await self.outcomes.write(outcome_path(target), path.name, sha256, ids, reason, detail)
        await asyncio.to_thread(rename, path, target)
        if reason:
            self.hub.count_refused()
            log.warning("filedrop %s: %s failed (%s): %s", self.name, path.name, reason,
                        detail, extra={"adapter": self.name, "reason": reason})
        else:
            log.info("filedrop %s: %s submitted as %s", self.name, path.name, ", ".join(ids),
                     extra={"adapter": self.name})
