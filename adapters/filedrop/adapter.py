"""The filedrop adapter: a hot folder in and out, for systems that speak files."""

from __future__ import annotations

import asyncio
import logging
import os

from hub.adapter import Adapter, HubHandle, Outcome
from hub.envelope import Envelope

from .config import FiledropConfig
from .inbound import Inbound
from .outbound import write_message
from .outcomes import OutcomeBook

log = logging.getLogger(__name__)


class FiledropAdapter(Adapter):
    config_model = FiledropConfig
    config: FiledropConfig

    def __init__(self, name: str, config: FiledropConfig, hub: HubHandle) -> None:
        super().__init__(name, config, hub)
        self.outcomes = OutcomeBook(hub)
        self.inbound = Inbound(name, config, hub, self.outcomes) if config.inbox_dir else None
        self.encoder = config.encoder()

    async def run(self) -> None:
        if self.inbound is not None:
            await self.outcomes.open()
            await self.inbound.run()

    async def deliver(self, envelope: Envelope) -> None:
        assert self.config.outbox_dir is not None  # the config requires it with receives
        written = await asyncio.to_thread(write_message, self.config.outbox_dir,
                                          self.config.file_name, envelope, self.encoder)
        if not written:
            log.info("filedrop %s: %s was already written; not written again", self.name,
                     envelope.id, extra={"adapter": self.name, "message_id": envelope.id})

    async def on_outcome(self, outcome: Outcome) -> None:
        await self.outcomes.update(outcome.message_id)

    async def check(self) -> list[str]:
        return await asyncio.to_thread(folder_problems, self.config)


def folder_problems(config: FiledropConfig) -> list[str]:
    """What keeps the folders from working: missing, not writable, or a work_dir on another
    file system than inbox_dir (files are moved by rename)."""
    problems = []
    folders = {"inbox_dir": config.inbox_dir, "work_dir": config.work_dir,
               "outbox_dir": config.outbox_dir}
    for key, folder in folders.items():
        if folder is None:
            continue
        if not folder.is_dir():
            problems.append(f"{key} {folder} is not a folder")
        elif not os.access(folder, os.W_OK | os.X_OK):
            problems.append(f"{key} {folder} is not writable")
    inbox, work = config.inbox_dir, config.work_dir
    if inbox and work and inbox.is_dir() and work.is_dir() and \
            inbox.stat().st_dev != work.stat().st_dev:
        problems.append(f"work_dir {work} is on another file system than inbox_dir {inbox}: "
                        "files are moved by rename, which cannot cross file systems")
    return problems
