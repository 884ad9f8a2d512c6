"""The hot folder in: take complete files from ``inbox_dir``, submit what they hold, and file
them under done/ or failed/ with an outcome file.

A file's journey: inbox/ -> processing/ -> (submit) -> done/ | failed/. Each submission's
idempotency key is ``<adapter>:<file name>:<sha256 of the content>:<n>``, so a file found in
processing/ after a crash is submitted again without being sent twice, and the same file
dropped twice (same name, same bytes) is one message.

Files go that way in batches (every complete file of one look, up to ``BATCH_FILES``): moved
together, submitted together (their store writes share commits), their outcome files written
together and then moved together. A file is moved out of processing/ only after the commit
of its messages and the writing of its outcome file; a bad file fails on its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Iterator

from hub import failpoints
from hub.adapter import HubHandle, SubmitRequest
from hub.errors import SubmitError, TransientError

from ..common.files import free_name, rename_all
from ..common.submission import InvalidSubmission
from .config import FiledropConfig
from .outcomes import (INVALID, REFUSED, TOO_LARGE, UNREADABLE, FileOutcome, OutcomeBook,
                       outcome_path)

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # files are hashed and read a MiB at a time
# One batch: at most this many files, holding at most this much content (a larger file goes
# alone). Each batch's submits share the store's commits.
BATCH_FILES = 256
BATCH_BYTES = 16 << 20


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


def batches(entries: list[Entry], files: int = BATCH_FILES,
            size: int = BATCH_BYTES) -> Iterator[list[Entry]]:
    """``entries`` in order, cut into runs of at most ``files`` files and ``size`` bytes."""
    batch: list[Entry] = []
    held = 0
    for entry in entries:
        if batch and (len(batch) == files or held + entry.size > size):
            yield batch
            batch, held = [], 0
        batch.append(entry)
        held += entry.size
    if batch:
        yield batch


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


@dataclass
class Taken:
    """One file of a batch, in processing/, and what became of it."""

    path: Path
    sha256: str | None = None
    content: bytes | None = None
    ids: list[str] = field(default_factory=list)
    reason: str | None = None  # why it failed (outcomes.py's codes); None: submitted
    detail: str | None = None

    def fail(self, reason: str, detail: str) -> None:
        if self.reason is None:  # the first reason stays
            self.reason, self.detail = reason, detail


def read_all(paths: list[Path], max_bytes: int) -> list[Taken]:
    """Each file read (or why it cannot be): content, hash; never more than ``max_bytes``
    of one file held."""
    taken = []
    for path in paths:
        file = Taken(path)
        try:
            content, file.sha256, size = read_bounded(path, max_bytes)
        except OSError as exc:
            file.fail(UNREADABLE, f"cannot read {path.name}: {exc.strerror or exc}")
        else:
            if content is None:
                file.fail(TOO_LARGE, f"{path.name} is {size} bytes, more than max_bytes "
                                     f"({max_bytes})")
            file.content = content
        taken.append(file)
    return taken


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
        leftovers = await asyncio.to_thread(scan, self.processing, "*", [])
        for batch in batches(leftovers):
            log.info("filedrop %s: resubmitting %s left in processing/", self.name,
                     ", ".join(e.name for e in batch))
            await self.process([self.processing / e.name for e in batch])
        await self.outcomes.refresh_all()
        while True:
            try:
                entries = await asyncio.to_thread(scan, self.inbox, self.config.pattern,
                                                  self.config.ignore)
            except OSError as exc:
                raise TransientError(f"cannot list inbox_dir {self.inbox}: {exc}") from None
            for batch in batches(self.settler.ready(entries, time.time(), time.monotonic())):
                await self.process(await asyncio.to_thread(self._take, batch))
            await asyncio.sleep(self.config.poll_interval)

    def _prepare(self) -> None:
        if not self.inbox.is_dir():
            raise TransientError(f"inbox_dir {self.inbox} is not a folder (not mounted yet?)")
        for folder in (self.processing, self.done, self.failed):
            folder.mkdir(exist_ok=True)

    def _take(self, batch: list[Entry]) -> list[Path]:
        """Move complete files into processing/; the paths of those moved. A name already in
        processing/ (only after a failed step) is left for the next start."""
        moves = [(self.inbox / e.name, self.processing / e.name) for e in batch
                 if not (self.processing / e.name).exists()]
        try:
            # A file gone meanwhile was taken back by the local system.
            moved = rename_all(moves, missing_ok=True)
        except OSError as exc:
            raise TransientError(f"cannot move files into {self.processing}: {exc}") from None
        return [target for _, target in moved]

    async def process(self, paths: list[Path]) -> None:
        """Submit what the files at ``paths`` (in processing/) hold, then file each under
        done/ or failed/."""
        if not paths:
            return
        files = await asyncio.to_thread(read_all, paths, self.config.max_bytes)
        requests: list[SubmitRequest] = []
        owners: list[Taken] = []
        for file in files:
            if file.reason:
                continue
            name = file.path.name
            try:
                submissions = self.decode(file.content)
            except InvalidSubmission as exc:
                file.fail(INVALID, f"{name}: {exc}")
                continue
            for n, submission in enumerate(submissions):
                requests.append(replace(submission,
                                        idempotency_key=f"{self.name}:{name}:{file.sha256}:{n}"))
                owners.append(file)
            file.content = None  # submitted from here on: not held any longer
        for file, result in zip(owners, await self.hub.submit_many(requests)):
            if isinstance(result, SubmitError):
                file.fail(REFUSED, f"{file.path.name}: {result}")
            else:
                file.ids += result.ids
        if requests:
            failpoints.hit("after_intake_commit")  # tests: die before a file leaves processing/
        await self._file(files)

    async def _file(self, files: list[Taken]) -> None:
        """Write the outcome files, then move each file beside its own (done/ or failed/)."""
        targets = await asyncio.to_thread(
            lambda: [free_name(self.failed if f.reason else self.done, f.path.name)
                     for f in files])
        await self.outcomes.write([
            FileOutcome(outcome_path(target), f.path.name, f.sha256, f.ids, f.reason, f.detail)
            for f, target in zip(files, targets)])
        # Counted before the files move: whoever sees a file in failed/ also sees it counted.
        for f in files:
            if f.reason:
                self.hub.count_refused()
                log.warning("filedrop %s: %s failed (%s): %s", self.name, f.path.name, f.reason,
                            f.detail, extra={"adapter": self.name, "reason": f.reason})
            else:
                log.info("filedrop %s: %s submitted as %s", self.name, f.path.name,
                         ", ".join(f.ids), extra={"adapter": self.name})
        await asyncio.to_thread(rename_all, [(f.path, t) for f, t in zip(files, targets)])
