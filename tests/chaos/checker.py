"""A total-queue checker in the spirit of Jepsen's: every message submitted through the
sender's adapter is accounted for as delivered exactly once to the recipient's adapter, or as
explicitly failed with a reason someone can see (the sender's outcome file, or a dead letter
that ``porthub dlq list`` shows).

Each submitted file carries a unique *marker* in its body (``body.note``); the recipient's
filedrop outbox is read back and every file's marker counted. Nothing here trusts the hubs'
own bookkeeping for the verdict: the stores are read only to explain it (reasons, resends).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hub.security import jws
from tests.support.hubproc import store_query

ENDS = ("rejected", "dead_lettered", "expired", "failed")  # outcome states that carry a reason


@dataclass
class Report:
    submitted: int
    delivered: int          # distinct markers delivered
    failed: dict[str, str]  # marker -> the reason shown to a person
    lost: list[str]         # submitted, neither delivered nor failed
    duplicated: dict[str, int]  # marker -> extra copies delivered
    unexpected: list[str]   # delivered but never submitted, or delivered *and* failed
    recovered: int          # delivered although the sender had to send it more than once
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected)

    def summary(self) -> str:
        return (f"submitted={self.submitted} delivered={self.delivered} "
                f"failed={len(self.failed)} lost={len(self.lost)} "
                f"duplicated={sum(self.duplicated.values())} "
                f"unexpected={len(self.unexpected)} recovered={self.recovered}")

    def explain(self) -> str:
        return "\n".join([self.summary(), f"lost (first 10): {self.lost[:10]}",
                          f"duplicated (first 10): {dict(list(self.duplicated.items())[:10])}",
                          f"unexpected (first 10): {self.unexpected[:10]}", *self.notes])


def delivered_files(outbox: Path, ignore: set[str] = frozenset()) -> list[dict]:
    """The canonical JSON files the recipient's filedrop wrote, skipping dotfiles (a file
    still being written) and the names in ``ignore``."""
    found = []
    for path in sorted(outbox.iterdir()):
        if path.name.startswith(".") or path.name in ignore:
            continue
        found.append(json.loads(path.read_text()))
    return found


def sender_outcomes(inbox: Path) -> dict[str, dict]:
    """File name -> its outcome document, from the sender's done/ and failed/ folders."""
    outcomes = {}
    for folder in ("done", "failed"):
        for path in (inbox / folder).glob("*.outcome.json") if (inbox / folder).is_dir() else ():
            try:
                document = json.loads(path.read_text())
            except ValueError:
                continue  # being rewritten; the caller checks again
            outcomes[document["file"]] = document
    return outcomes


def dead_letters_in(db: Path) -> dict[str, str]:
    """Marker -> reason of every inbound message the recipient dead-lettered (what ``porthub
    dlq list`` shows its operator)."""
    if not db.exists():
        return {}
    rows = store_query(db, "SELECT jws, reason FROM messages WHERE direction = 'in'"
                           " AND state = 'dead_lettered'")
    return {json.loads(jws.parse(raw).payload)["body"]["note"]: reason for raw, reason in rows}


def resends(db: Path) -> dict[str, int]:
    """Message id -> send attempts, for the sender's outgoing messages."""
    if not db.exists():
        return {}
    return dict(store_query(db, "SELECT id, attempts FROM messages WHERE direction = 'out'"))


def check(submitted: dict[str, str], *, outbox: Path, sender_inbox: Path, sender_db: Path,
          recipient_db: Path, ignore: set[str] = frozenset()) -> Report:
    """``submitted`` maps each marker to the name of the file that carried it."""
    files = delivered_files(outbox, ignore)
    copies = Counter(f["body"].get("note") for f in files)
    ids = {f["body"].get("note"): f["id"] for f in files}
    outcomes = sender_outcomes(sender_inbox)
    failed: dict[str, str] = {}
    for marker, name in submitted.items():
        document = outcomes.get(name)
        if document and document["state"] in ENDS:
            failed[marker] = f"{document['state']}: {document.get('reason')}"
    for marker, reason in dead_letters_in(recipient_db).items():
        if marker in submitted:
            failed.setdefault(marker, f"dead_lettered at the recipient: {reason}")
    lost = sorted(m for m in submitted if m not in copies and m not in failed)
    duplicated = {m: n - 1 for m, n in copies.items() if n > 1}
    unexpected = sorted(str(m) for m in copies if m not in submitted or m in failed)
    attempts = resends(sender_db)
    recovered = sum(1 for m in copies if m in submitted and attempts.get(ids[m], 1) > 1)
    return Report(len(submitted), sum(1 for m in copies if m in submitted), failed, lost,
                  duplicated, unexpected, recovered)
