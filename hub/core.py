"""The hub: submit, sign and queue; verify, store and receipt what peers send; hand inbound
messages to the local systems; resend, expire and account for everything.

One ``Hub`` object per port hub, living on one asyncio loop (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Awaitable, Callable, Sequence

from . import events as ev, failpoints
from .backoff import Backoff, wait_event
from .config import HubConfig
from .encryption import CannotEncrypt, Encryption, SealingOutlet
from .envelope import Envelope, utc, format_time
from .errors import ConfigError, PermanentError, Rejected, SubmitError, TransientError
from .ids import new_message_id
from .intake import Intake
from .link import IDLE_POLL, PeerLink, sleep_for
from .metrics import HubMetrics
from .plugins import AdapterHost
from .recent import RecentEnvelopes
from .routing import Router
from .schema import RECEIPT, schemas
from .security import jws
from .security.identity import Identity
from .security.trust import TrustStore
from .store import Incoming, Outgoing, Store
from .transports import Delivery, encoding as wire, load as load_transport
from .transports.encoding import DEFLATE, CompressingOutlet
from .verify import Verified, Verifier

log = logging.getLogger(__name__)

LocalDelivery = Callable[[Envelope], Awaitable[None]]
# Entries in one receipt at most (hub.receipt.json): about 5.5 KB signed, within the smallest
# limits.max_message_bytes a peer may set (8 KiB).
RECEIPT_ENTRIES = 16
HANDOVER_BATCH = 100  # received messages handed over at once, their outcomes in one operation
CRL_REFRESH_OFF_POLL = 60.0  # with hub.crl_refresh 0, how often to see if a reload set it


@dataclass(frozen=True)
class Submitted:
    """What ``submit`` queued: one message id per recipient."""

    ids: list[str]
    recipients: list[str]


class Hub:
    """A port hub. Build it with ``Hub.from_config`` (files) or directly (tests, the demo)."""

    def __init__(self, config: HubConfig, identity: Identity, trust: TrustStore, *,
                 clock: Callable[[], float] = time.time,
                 metrics: HubMetrics | None = None,
                 encryption: Encryption | None = None) -> None:
        if identity.hub_id != config.hub.id:
            raise PermanentError(f"the certificate is for hub {identity.hub_id!r}, "
                                 f"but the configuration is for {config.hub.id!r}")
        self.config = config
        self.id = config.hub.id
        self.identity = identity
        self.trust = trust
        self.clock = clock
        self.metrics = metrics or HubMetrics()
        self.events = ev.Emitter()
        self.events.observers.append(self.metrics)
        self.schemas = schemas()
        self.router = Router(self.id, config.peers, [(r.type, r.to) for r in config.routes])
        self.encryption = encryption or Encryption.load(config, trust, clock)
        self.verifier = Verifier(
            self.id, trust, {p: c.may_send for p, c in config.peers.items()},
            max_bytes=config.limits.max_message_bytes, clock_skew=config.limits.clock_skew,
            clock=clock, decryption=self.encryption)
        self.store: Store | None = None
        self.links: dict[str, PeerLink] = {}
        self.intake: Intake | None = None
        self.local_delivery: LocalDelivery | None = None
        self.adapters: AdapterHost | None = None
        self._handover_wake = asyncio.Event()
        self._expiry_wake = asyncio.Event()
        self._next_expiry = 0.0  # when the expiry loop looks next (wall clock)
        self._recent = RecentEnvelopes()  # taken in, not yet handed over
        self._tasks: list[asyncio.Task] = []
        self._link_tasks: dict[str, asyncio.Task] = {}
        self._intake_task: asyncio.Task | None = None
        self._handover_backoff = Backoff(config.retry.handover_initial, config.retry.maximum)

    @classmethod
    def from_config(cls, config: HubConfig, **kwargs: Any) -> "Hub":
        """Load the identity and trust named in ``config`` and build the hub."""
        section = config.hub
        identity = Identity.load(section.key, section.cert)
        trust = TrustStore.from_files(section.ca, section.crl)
        return cls(config, identity, trust, **kwargs)

    # -- lifecycle -------------------------------------------------------------------------
    def open_store(self) -> Store:
        """Open the store (``start`` does; so do the commands that work on it offline)."""
        if self.store is None:
            self.store = Store(self.config.hub.data_dir / "hub.db")
        return self.store

    async def start(self) -> None:
        """Open the store, connect the inbox and the peer links (in the background)."""
        self.open_store()
        inbox_kind = load_transport(self.config.inbox.kind)
        inbox = inbox_kind.inbox(self.config.inbox, self.id)
        retry = self.config.retry
        reconnect = Backoff(retry.reconnect_initial, retry.reconnect_maximum)
        self.intake = Intake(inbox, self._on_deliveries, reconnect, self._inbox_state)
        self._intake_task = self._spawn("inbox", self.intake.run)
        for peer in self.config.peers:
            self._open_link(peer)
        self._start_adapters()
        self._spawn("expiry", self._expiry_loop)
        self._spawn("handover", self._handover_loop)
        self._spawn("crl", self._crl_refresh_loop)

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop taking work, let handled deliveries finish (at most ``timeout``), close."""
        if self._intake_task:  # first stop taking work
            self._intake_task.cancel()
        if self.intake:
            await self.intake.drain(timeout)
        for task in self._tasks:
            task.cancel()
        _done, stuck = await asyncio.wait(self._tasks, timeout=timeout)
        for task in stuck:
            log.error("task %s did not stop within %s s", task.get_name(), timeout)
        self._tasks.clear()
        if self.intake:
            await self.intake.inbox.close()
        for link in self.links.values():
            await link.close()
        await self._stop_adapters()
        if self.store:
            self.store.close()

    def _open_link(self, peer: str) -> None:
        settings = self.config.peers[peer].transport
        outlet = load_transport(settings.kind).outlet(settings, peer, self.id)
        if DEFLATE in outlet.encodings:  # below the sealing: what is deflated is the sealed
            outlet = CompressingOutlet(outlet, lambda: self.config.limits.compress_above)
        if self.encryption.policy.with_peer(peer):
            # Sealed as the encryption of the moment says: a reload may change its rules.
            outlet = SealingOutlet(outlet, lambda signed: self.encryption.seal(peer, signed))
        self.links[peer] = PeerLink(self, peer, outlet)
        self._link_tasks[peer] = self._spawn(f"link:{peer}", self.links[peer].run)

    async def _close_link(self, peer: str) -> None:
        task = self._link_tasks.pop(peer)
        task.cancel()
        await asyncio.wait([task], timeout=10)
        self._tasks.remove(task)
        await self.links.pop(peer).close()
        self.metrics.peer_up.remove(peer)

    def _start_adapters(self) -> None:
        if not self.config.adapters:
            return
        self.adapters = AdapterHost(self, self.config.adapters)
        self.events.observers.append(self.adapters)
        self.local_delivery = self.adapters.deliver
        self.adapters.start()
        self._handover_wake.set()  # what waited for a local system goes now

    async def _stop_adapters(self) -> None:
        if self.adapters is None:
            return
        await self.adapters.close()
        self.events.observers.remove(self.adapters)
        self.adapters = None
        self.local_delivery = None

    async def reload(self, config: HubConfig, identity: Identity, trust: TrustStore
                     ) -> list[str]:
        """Swap to ``config`` (validated, with its identity and trust already loaded beside
        the running ones). Peers, routes, policies, trust and CRL, limits and adapters change
        live; the hub id, data folder and inbox need a restart. Returns what changed."""
        old = self.config
        if config.hub.id != old.hub.id or config.hub.data_dir != old.hub.data_dir:
            raise PermanentError("hub.id and hub.data_dir cannot change without a restart")
        if config.inbox != old.inbox:
            raise PermanentError("the inbox transport cannot change without a restart")
        if identity.hub_id != self.id:
            raise PermanentError(f"the new certificate is for hub {identity.hub_id!r}")
        encryption = Encryption.load(config, trust, self.clock)
        sealing = {peer: self.encryption.policy.with_peer(peer) for peer in old.peers}
        changes = []
        self.config, self.identity, self.trust = config, identity, trust
        self.encryption = self.verifier.decryption = encryption
        self.router = Router(self.id, config.peers, [(r.type, r.to) for r in config.routes])
        self.verifier.trust = trust
        self.verifier.peers = {p: c.may_send for p, c in config.peers.items()}
        self.verifier.max_bytes = config.limits.max_message_bytes
        self.verifier.clock_skew = config.limits.clock_skew
        for peer in sorted(old.peers.keys() - config.peers.keys()):
            await self._close_link(peer)
            changes.append(f"removed peer {peer}")
        for peer in sorted(config.peers):
            if peer not in old.peers:
                self._open_link(peer)
                changes.append(f"added peer {peer}")
            elif config.peers[peer].transport != old.peers[peer].transport:
                await self._close_link(peer)
                self._open_link(peer)
                changes.append(f"reconnected peer {peer}")
            elif encryption.policy.with_peer(peer) != sealing[peer]:
                await self._close_link(peer)  # a link seals exactly when encryption is on
                self._open_link(peer)
                changes.append(f"reopened the link to {peer}: encryption "
                               f"{'on' if encryption.policy.with_peer(peer) else 'off'}")
        if config.adapters != old.adapters:
            await self._stop_adapters()
            self._start_adapters()
            changes.append("restarted adapters")
        return changes

    def _spawn(self, name: str, body: Callable[[], Awaitable[None]]) -> asyncio.Task:
        async def supervised() -> None:
            # A component that dies of a bug is logged and restarted, never silently gone.
            failures = 0
            while True:
                try:
                    await body()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001
                    failures += 1
                    log.exception("%s task of hub %s failed; restarting", name, self.id)
                    await asyncio.sleep(min(30.0, 0.5 * failures))

        task = asyncio.create_task(supervised(), name=f"{self.id}:{name}")
        self._tasks.append(task)
        return task

    def emit(self, kind: str, **fields: Any) -> None:
        self.events.emit(ev.Event(kind=kind, hub=self.id, at=self.clock(), **fields))

    def _inbox_state(self, connected: bool, error: str | None) -> None:
        log.log(logging.INFO if connected else logging.WARNING, "inbox %s%s",
                "connected" if connected else "disconnected", f": {error}" if error else "")
        self.emit(ev.LINK_UP if connected else ev.LINK_DOWN, reason=error)

    # -- sending ---------------------------------------------------------------------------
    async def submit(self, type: str, body: Any, *, to: str | Sequence[str] | None = None,
                     correlation_id: str | None = None, ttl: float | None = None,
                     content_type: str = "application/json",
                     idempotency_key: str | None = None, source: str | None = None
                     ) -> Submitted:
        """Sign and queue a message; it is on disk when this returns.

        Raises ``SubmitError`` at once for an unknown type, an invalid body, or a recipient
        or route that does not exist: nothing is queued that could only wait forever. A
        repeated ``idempotency_key`` returns the first submission instead of queuing again;
        ``source`` names the adapter told of the outcome."""
        if type == RECEIPT:
            raise SubmitError("hub.receipt messages are made by the hub itself")
        self.schemas.check_type(type)
        problem = self.schemas.errors(type, body)
        if problem:
            raise SubmitError(f"The body is not a valid {type}: {problem}")
        recipients = self.router.recipients(type, to)
        try:
            self.encryption.check_recipients(type, recipients)
        except CannotEncrypt as exc:
            raise SubmitError(f"Cannot encrypt {type} as the configuration requires: {exc}") \
                from None
        now = self.clock()
        ttl = self.config.limits.default_ttl if ttl is None else ttl
        if ttl <= 0:
            raise SubmitError("ttl must be positive")
        messages = [self._sign(Envelope(
            id=new_message_id(), type=type, sender=self.id, to=peer, created=utc(now),
            expires=utc(now) + timedelta(seconds=ttl), body=body,
            correlation_id=correlation_id, content_type=content_type)) for peer in recipients]
        ids, recipients, new = await self.store.add_outgoing(messages, now, idempotency_key,
                                                             source)
        if new:
            if now + ttl < self._next_expiry:  # expires before the expiry loop would look
                self._expiry_wake.set()
            for message in messages:
                self.emit(ev.SUBMITTED, message_id=message.id, peer=message.peer, type=type,
                          correlation_id=correlation_id, detail={"source": source})
                link = self.links.get(message.peer)
                if link is not None:  # not started: a running daemon's link will see it
                    link.wake.set()
        return Submitted(ids, recipients)

    def _sign(self, envelope: Envelope) -> Outgoing:
        signed, digest = self.identity.sign_with_digest(envelope.to_bytes())
        return Outgoing(id=envelope.id, peer=envelope.to, type=envelope.type,
                        correlation_id=envelope.correlation_id,
                        created=envelope.created.timestamp(), expires=envelope.expires.timestamp(),
                        digest=digest, jws=signed)

    def _receipt(self, to: str, entries: Sequence[tuple[Verified, str, str | None]]) -> bytes:
        """One signed receipt for ``to``: an entry (outcome, reason) per verified message."""
        now = utc(self.clock())
        received_at = format_time(now)
        body = {"entries": [{"message_id": verified.envelope.id, "digest": verified.digest,
                             "outcome": outcome, "reason": reason, "received_at": received_at}
                            for verified, outcome, reason in entries]}
        receipt = Envelope(id=new_message_id(), type=RECEIPT, sender=self.id, to=to,
                           created=now,
                           expires=now + timedelta(seconds=self.config.limits.default_ttl),
                           body=body)
        return self.identity.sign(receipt.to_bytes())

    # -- receiving -------------------------------------------------------------------------
    async def _on_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        """Handle what the intake took from the inbox at once: check each delivery, settle
        the receipts among them, and take the messages in with one signed receipt per
        sender for all of them."""
        now = self.clock()
        messages: list[tuple[Delivery, Verified]] = []
        others: list[tuple[Delivery, Verified | Rejected, bytes]] = []
        for delivery in deliveries:
            body = delivery.body
            try:
                body = wire.decode(body, delivery.encoding, self.verifier.max_bytes)
                verified = self.verifier.verify(body)
            except Rejected as rejected:
                others.append((delivery, rejected, body))
                continue
            if verified.envelope.type == RECEIPT:
                others.append((delivery, verified, body))
            else:
                messages.append((delivery, verified))
        # The messages first: batches handled at once then reach the store in the order they
        # were read, so one correlation id's messages are committed in the order they came.
        if messages:
            await self._take_in(messages, now)
        for delivery, checked, body in others:
            if isinstance(checked, Rejected):
                await self._refuse(checked, body, now)
                await delivery.reject()
            else:
                await self._on_receipt(checked, now)
                await delivery.ack()

    async def _take_in(self, messages: list[tuple[Delivery, Verified]], now: float) -> None:
        """Commit verified messages to the inbox, then acknowledge them and queue receipts.

        The receipt is signed before the commit and stored with the messages it answers,
        so a copy that comes again is answered with the very same receipt. A message already
        in the inbox is left out of the new receipt and answered with its original one."""
        seen = await self.store.known_incoming(v.envelope.id for _d, v in messages)
        problems = [self.schemas.errors(v.envelope.type, v.envelope.body, parsed=True)
                    for _d, v in messages]
        answering: dict[str, list[int]] = {}  # sender -> the messages its new receipt answers
        for n, (_delivery, verified) in enumerate(messages):
            if verified.envelope.id not in seen:
                seen.add(verified.envelope.id)
                answering.setdefault(verified.envelope.sender, []).append(n)
        receipts: dict[int, bytes] = {}
        for sender, answered in answering.items():
            for start in range(0, len(answered), RECEIPT_ENTRIES):
                numbers = answered[start:start + RECEIPT_ENTRIES]
                receipt = self._receipt(sender, [
                    (messages[n][1], "rejected" if problems[n] else "accepted",
                     "schema_invalid" if problems[n] else None) for n in numbers])
                receipts.update(dict.fromkeys(numbers, receipt))
        incoming = [Incoming(
            id=v.envelope.id, sender=v.envelope.sender, type=v.envelope.type,
            correlation_id=v.envelope.correlation_id, created=v.envelope.created.timestamp(),
            expires=v.envelope.expires.timestamp(), digest=v.digest, jws=v.jws,
            receipt=receipts.get(n, b"")) for n, (_d, v) in enumerate(messages)]
        outcomes = await self.store.accept_incoming(incoming, problems, now)
        for _message in messages:  # tests: die between the commit and the ack
            failpoints.hit("after_inbox_commit")
        answers: dict[str, dict[bytes, None]] = {}  # sender -> receipts to send, in order
        for n, ((delivery, verified), (outcome, original)) in enumerate(zip(messages, outcomes)):
            envelope = verified.envelope
            answer = original if outcome == "duplicate" else receipts.get(n)
            if answer:
                answers.setdefault(envelope.sender, {})[answer] = None
            if outcome == "duplicate":
                self.emit(ev.DUPLICATE, message_id=envelope.id, peer=envelope.sender,
                          type=envelope.type, reason="duplicate")
                await delivery.ack()
            elif outcome == "schema_invalid":
                self._refused_event("schema_invalid", problems[n], envelope.sender, envelope.id)
                await delivery.reject()
            else:
                if self.local_delivery is not None:
                    self._recent.keep(envelope, len(verified.jws))
                self.emit(ev.RECEIVED, message_id=envelope.id, peer=envelope.sender,
                          type=envelope.type, correlation_id=envelope.correlation_id)
                await delivery.ack()
        for sender, answer in answers.items():
            for receipt in answer:
                self.links[sender].send_receipt(receipt)
        self._handover_wake.set()

    async def _refuse(self, rejected: Rejected, raw: bytes, now: float) -> None:
        """Record a failed receive check; answer only a sender whose signature verified."""
        await self.store.record_rejection(rejected.reason, rejected.sender, rejected.message_id,
                                          rejected.detail, raw, now)
        self._refused_event(rejected.reason, rejected.detail, rejected.sender,
                            rejected.message_id)
        verified = rejected.verified
        if isinstance(verified, Verified) and verified.envelope.type != RECEIPT:
            link = self.links.get(verified.envelope.sender)
            if link is not None:
                link.send_receipt(self._receipt(verified.envelope.sender,
                                                [(verified, "rejected", rejected.reason)]))

    def _refused_event(self, reason: str, detail: str | None, sender: str | None,
                       message_id: str | None) -> None:
        log.warning("refused inbound message %s from %s: %s: %s", message_id, sender, reason,
                    detail, extra={"message_id": message_id, "reason": reason})
        self.emit(ev.REFUSED, message_id=message_id, peer=sender, reason=reason,
                  detail={"detail": detail})

    async def _on_receipt(self, verified: Verified, now: float) -> None:
        body, peer = verified.envelope.body, verified.envelope.sender
        problem = self.schemas.errors(RECEIPT, body, parsed=True)
        if problem:
            await self._refuse(Rejected("schema_invalid", problem, sender=peer,
                                        message_id=verified.envelope.id), verified.jws, now)
            return
        results = await self.store.settle_outgoing(peer, body["entries"], verified.jws, now)
        for entry, (result, row) in zip(body["entries"], results):
            if result == "settled":
                kind = ev.DELIVERED if entry["outcome"] == "accepted" else ev.REJECTED
                self.emit(kind, message_id=entry["message_id"], peer=peer, type=row["type"],
                          reason=entry["reason"], correlation_id=row["correlation_id"],
                          detail={"latency": now - row["created"], "source": row["source"]})
            elif result in ("mismatch", "unknown"):
                log.warning("receipt from %s for %s does not match a message sent to it (%s)",
                            peer, entry["message_id"], result)
        if any(result == "settled" for result, _row in results):
            self.links[peer].wake.set()

    # -- background work -------------------------------------------------------------------
    def refresh_crl(self) -> bool:
        """Read the CRL file again into the trust in use. A CRL that cannot be read or is
        not acceptable leaves the last good one in place, logged and counted."""
        path = self.config.hub.crl
        if path is None:
            return True
        try:
            self.trust.load_crl(path.read_bytes())
        except (OSError, ConfigError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) else exc
            log.error("CRL refresh from %s failed, keeping the last good CRL: %s", path, detail)
            self.metrics.crl_refresh_failures.inc()
            return False
        return True

    async def _crl_refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.hub.crl_refresh or CRL_REFRESH_OFF_POLL)
            if self.config.hub.crl_refresh:
                self.refresh_crl()

    async def _expiry_loop(self) -> None:
        """Expire outgoing messages when their time comes: sleep until the next open one
        expires (at most ``IDLE_POLL``), woken by a submit that expires sooner."""
        while True:
            self._expiry_wake.clear()
            now = self.clock()
            expired, next_expiry = await self.store.expire_due(now)
            for row in expired:
                self.emit(ev.EXPIRED, message_id=row["id"], peer=row["peer"], reason="expired",
                          detail={"source": row["source"]})
            delay = sleep_for(next_expiry, now)
            self._next_expiry = now + delay
            await wait_event(self._expiry_wake, delay)

    async def _handover_loop(self) -> None:
        """Hand received messages to the local system, retrying transient failures; the
        outcomes of what was handed over together are recorded in one store operation."""
        while True:
            self._handover_wake.clear()
            if self.local_delivery is None:  # no local system (yet): nothing to hand over
                await wait_event(self._handover_wake, IDLE_POLL)
                continue
            rows, due = await self.store.pending_handover(self.clock(), HANDOVER_BATCH)
            if rows:
                due = await self._hand_over_batch(rows)
                if len(rows) == HANDOVER_BATCH or self._handover_wake.is_set():
                    continue  # more may be due at once
            # sleep until a retry falls due, or a message comes in
            await wait_event(self._handover_wake, sleep_for(due, self.clock()))

    async def _hand_over_batch(self, rows: list[dict[str, Any]]) -> float | None:
        """Hand ``rows`` over and record their outcomes; when the next received message falls
        due (None: none is waiting)."""
        outcomes = await asyncio.gather(*(self._hand_over(row) for row in rows))
        due = await self.store.mark_handover(
            [(row["id"], state, reason, retry_at) for row, (state, reason, retry_at, _c)
             in zip(rows, outcomes)], self.clock())
        for row, (state, reason, _retry_at, correlation_id) in zip(rows, outcomes):
            if state == "handed_over":
                self.emit(ev.HANDED_OVER, message_id=row["id"], peer=row["peer"],
                          type=row["type"], correlation_id=correlation_id)
            elif state == "dead_lettered":
                self.emit(ev.DEAD_LETTERED, message_id=row["id"], peer=row["peer"],
                          type=row["type"], reason=reason, detail={"direction": "in"})
        return due

    async def _hand_over(self, row: dict[str, Any]
                         ) -> tuple[str, str | None, float | None, str | None]:
        """Give one message to the local system: (state, reason, next attempt, correlation
        id), where state is ``handed_over``, ``dead_lettered`` or ``received`` (a retry)."""
        envelope = self._recent.take(row["id"]) \
            or Envelope.from_bytes(jws.payload_of(row["jws"]))
        retry = self.config.retry
        try:
            await self.local_delivery(envelope)
        except TransientError as exc:
            attempt = row["attempts"] + 1
            if attempt < retry.handover_attempts:
                return ("received", str(exc), self.clock() + self._handover_backoff.delay(attempt),
                        envelope.correlation_id)
            reason = f"gave up after {attempt} attempts: {exc}"
        except Exception as exc:  # noqa: BLE001 - a permanent error or a bug in the local side
            reason = str(exc) or type(exc).__name__
        else:
            return "handed_over", None, None, envelope.correlation_id
        log.error("message %s from %s dead-lettered: %s", row["id"], row["peer"], reason,
                  extra={"message_id": row["id"]})
        return "dead_lettered", reason, None, envelope.correlation_id

    # -- queries ---------------------------------------------------------------------------
    async def refresh_gauges(self) -> None:
        depth, oldest = await self.store.outbox_summary()
        self.metrics.set_outbox(list(self.links), depth, oldest, self.clock())
        self.metrics.cert_expiry.set(self.identity.not_after.timestamp())

    async def full_status(self) -> dict[str, Any]:
        """``status()`` plus the outbox per peer, from the store."""
        depth, oldest = await self.store.outbox_summary()
        now = self.clock()
        result = self.status()
        for peer in self.config.peers:  # a hub that is not running has no links yet
            result["peers"].setdefault(peer, {"peer": peer, "up": None, "since": None,
                                              "last_error": None, "pending_receipts": 0})
        for peer, info in result["peers"].items():
            info["queued"] = depth.get((peer, "queued"), 0)
            info["awaiting_receipt"] = depth.get((peer, "sent"), 0)
            info["oldest_pending_seconds"] = round(now - oldest[peer], 3) if peer in oldest \
                else None
        result["certificate_expires"] = self.identity.not_after.isoformat()
        return result

    async def message(self, message_id: str) -> list[dict[str, Any]]:
        return await self.store.message(message_id)

    def status(self) -> dict[str, Any]:
        return {
            "hub": self.id,
            "inbox": {"connected": bool(self.intake and self.intake.connected),
                      "target": self.intake.inbox.describe() if self.intake else None,
                      "last_error": self.intake.last_error if self.intake else None},
            "peers": {peer: link.status() for peer, link in self.links.items()},
        }
