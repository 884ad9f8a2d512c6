"""The error vocabulary shared by the core, transports and adapters.

Every error says whether it is *transient* (the core retries later, with back-off) or
*permanent* (the core gives up loudly: dead letter, operator-visible). Components only raise;
retries, reconnects and metrics live in the core.
"""

from __future__ import annotations


class PorthubError(Exception):
    """Base of every error porthub raises on purpose."""


class TransientError(PorthubError):
    """Try again later: the condition is expected to clear by itself."""


class PermanentError(PorthubError):
    """Trying again will not help: the operator has to look."""


class NotConnected(TransientError):
    """The transport has no usable connection; the core reconnects with back-off."""


class NotAcknowledged(TransientError):
    """The broker refused or returned a message (negative confirm, unroutable)."""


class ConfigError(PermanentError):
    """The configuration is invalid. ``str()`` names the file, line and key where known."""


class SubmitError(PermanentError):
    """A submitted message cannot be routed or is invalid (unknown type or recipient)."""


class Rejected(PorthubError):
    """An inbound message failed a receive check.

    ``reason`` is one of the stable reason codes of docs/protocol.md; it is used as a metric
    label and in audit entries, so it never changes for an existing check. ``sender`` and
    ``message_id`` are filled in as far as the message could be read (unauthenticated before
    the signature check). ``verified`` is set when the failure came after the signature check:
    only then may the hub answer with a negative receipt.
    """

    def __init__(self, reason: str, detail: str = "", *, sender: str | None = None,
                 message_id: str | None = None, verified: object | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.sender = sender
        self.message_id = message_id
        self.verified = verified
