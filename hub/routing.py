"""Where a submitted message goes: an explicit recipient, a rule by type, or every peer."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Iterable, Sequence

from .errors import SubmitError
from .names import did_you_mean


class Router:
    """Rules are ``(type pattern, recipients)`` pairs, tried in order; the first match wins.
    ``recipients`` is a list of peer ids or ``"all"`` (broadcast: one message per peer)."""

    def __init__(self, me: str, peers: Iterable[str],
                 rules: Sequence[tuple[str, Sequence[str] | str]]) -> None:
        self.me = me
        self.peers = sorted(peers)
        self.rules = list(rules)

    def recipients(self, type_name: str, to: str | Sequence[str] | None = None) -> list[str]:
        """The peers that get a message of ``type_name``; raise ``SubmitError`` if none can."""
        if to is None:
            for pattern, targets in self.rules:
                if fnmatchcase(type_name, pattern):
                    to = targets
                    break
            else:
                raise SubmitError(f"No route for type {type_name!r}: add a route for it to the "
                                  f"configuration or name the recipient.")
        if to == "all":
            if not self.peers:
                raise SubmitError("Cannot broadcast: this hub has no peers configured.")
            return list(self.peers)
        targets = [to] if isinstance(to, str) else list(to)
        if not targets:
            raise SubmitError("No recipient given.")
        for target in targets:
            if target == self.me:
                raise SubmitError(f"Cannot send to {target!r}: that is this hub itself.")
            if target not in self.peers:
                hint = did_you_mean(target, self.peers, "Known peers") or " No peers are known."
                raise SubmitError(f"Unknown recipient {target!r}.{hint}")
        return list(dict.fromkeys(targets))
