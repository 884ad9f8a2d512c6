"""The hot folder out: each inbound message becomes one file in ``outbox_dir`` -- its
canonical JSON, or what the codec ``encode`` names writes -- atomically and never over another
file.

A repeated delivery of the same message (the hub crashed after the file was written but
before it recorded the hand-over) finds its file already there and writes nothing: while the
file is in the folder, the local system sees each message once. A canonical JSON file is
recognised by the id inside it; an encoded file by its name, which then must hold the id.
"""

from __future__ import annotations

import errno
import json
import re
from pathlib import Path

from hub.envelope import Envelope
from hub.errors import PermanentError, TransientError

from ..common.codecs import CANONICAL, Encoder
from ..common.files import write_atomic

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
# Conditions that clear by themselves (space freed, a share mounted again); everything else
# (permission denied, read-only file system, not a folder) needs the operator.
TRANSIENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.ENOENT, errno.EAGAIN,
                    errno.EBUSY, errno.ETIMEDOUT, errno.ESTALE, errno.EINTR}


def file_name(template: str, envelope: Envelope, ext: str = "json") -> str:
    fields = {"id": envelope.id, "type": envelope.type, "sender": envelope.sender,
              "correlation_id": envelope.correlation_id or "none",
              "created": envelope.created.strftime("%Y%m%dT%H%M%SZ"), "ext": ext}
    return template.format(**{k: _UNSAFE.sub("_", v) for k, v in fields.items()})


def write_message(outbox: Path, template: str, envelope: Envelope,
                  encoder: Encoder = CANONICAL) -> bool:
    """Write ``envelope`` as ``encoder`` makes it (by default its canonical JSON) to
    ``outbox``; False if it was already there.

    Raises ``TransientError`` (disk full, folder missing, the name still taken by another
    message the local system has not collected yet) or ``PermanentError`` (and the
    encoder's ``PermanentError`` for a body its codec cannot write)."""
    data = encoder.encode(envelope)
    path = outbox / file_name(template, envelope, encoder.form(envelope.type)[0])
    encoded = encoder.codec_for(envelope.type) is not None
    try:
        if write_atomic(path, data, replace=False):
            return True
        # An encoded file's name holds the id (the configuration requires it with encode).
        holder = envelope.id if encoded else _message_id(path)
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
