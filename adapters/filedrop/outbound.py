"""The hot folder out: each inbound message becomes one file in ``outbox_dir``, written
atomically and never over another file.

A repeated delivery of the same message (the hub crashed after the file was written but
before it recorded the hand-over) finds its file already there and writes nothing: while the
file is in the folder, the local system sees each message once.
"""

from __future__ import annotations

import errno
import json
import re
from pathlib import Path

from hub.envelope import Envelope
from hub.errors import PermanentError, TransientError

from ..common.files import write_atomic

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
# Conditions that clear by themselves (space freed, a share mounted again); everything else
# (permission denied, read-only file system, not a folder) needs the operator.
TRANSIENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.ENOENT, errno.EAGAIN,
                    errno.EBUSY, errno.ETIMEDOUT, errno.ESTALE, errno.EINTR}


def file_name(template: str, envelope: Envelope) -> str:
    fields = {"id": envelope.id, "type": envelope.type, "sender": envelope.sender,
              "correlation_id": envelope.correlation_id or "none",
              "created": envelope.created.strftime("%Y%m%dT%H%M%SZ")}
    return template.format(**{k: _UNSAFE.sub("_", v) for k, v in fields.items()})


def write_message(outbox: Path, template: str, envelope: Envelope) -> bool:
    """Write ``envelope`` (its canonical JSON) to ``outbox``; False if it was already there.

    Raises ``TransientError`` (disk full, folder missing, the name still taken by another
    message the local system has not collected yet) or ``PermanentError``."""
    path = outbox / file_name(template, envelope)
    try:
        if write_atomic(path, envelope.to_bytes(), replace=False):
            return True
        holder = _message_id(path)
    except OSError as exc:
        error = TransientError if exc.errno in TRANSIENT_ERRNOS else PermanentError
        raise error(f"cannot write {path}: {exc.strerror or exc}") from None
    if holder == envelope.id:
        return False
    raise TransientError(f"{path} exists and holds {holder or 'another file'}; waiting for the "
                         f"local system to take it (never overwritten)")


def _message_id(path: Path) -> str | None:
    try:
        document = json.loads(path.read_bytes())
    except ValueError:
        return None
    return document.get("id") if isinstance(document, dict) else None
