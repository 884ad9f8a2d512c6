"""``porthub demo``: five port hubs in one process on the in-memory transport, with real
stores, keys, certificates, signatures, receipts, routing and adapters, walking one shipment
from Aktau to Baku by sea and on to Samsun by rail.

The ports' own systems are folders. The demo drops the files a terminal, a shipping agent,
customs and the railway write (``hub/demo_data``: EDIFACT and XML) into the hot folders of
their hubs' terminal, customs and rail adapters, and shows the files those adapters write for
the systems at the other ports. The network is the one of ``config/*.yaml`` -- the same
agreement on who may send what, the same routes and adapters -- on the in-memory transport
and with every local system on folders (Kuryk's TOS and Samsun's railway, on sql and http
there, included).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from . import events as ev
from .core import Hub
from .envelope import Envelope, utc
from .ids import new_message_id
from .sandbox import Sandbox, build_sandbox
from .security import jwe, jws, pki
from .transports import memory

HUBS = ["aktau", "baku", "kuryk", "samsun", "turkmenbashi"]
BROKER = "demo"

# What each port may send, as the consortium agreed it (every receiver enforces this), and
# where each port's messages go: as in config/*.yaml (tests/ops/test_config_examples.py).
CASPIAN = ["vessel.*", "terminal.*", "cargo.*", "customs.pre_arrival", "shipment.status"]
POLICY = {
    "aktau": CASPIAN,
    "baku": ["vessel.*", "terminal.*", "customs.*", "rail.consignment", "shipment.status"],
    "kuryk": CASPIAN,
    "samsun": ["terminal.*", "rail.consignment", "shipment.status"],
    "turkmenbashi": CASPIAN,
}
TO_BAKU = [{"type": "vessel.*", "to": "baku"}, {"type": "terminal.*", "to": "baku"},
           {"type": "cargo.*", "to": "baku"}, {"type": "customs.pre_arrival", "to": "baku"},
           {"type": "shipment.status", "to": "all"}]
ROUTES = {
    "aktau": TO_BAKU,
    "baku": [{"type": "customs.decision", "to": "aktau"}, {"type": "rail.*", "to": "samsun"},
             {"type": "terminal.gate_event", "to": "samsun"},
             {"type": "vessel.*", "to": ["aktau", "kuryk", "turkmenbashi"]},
             {"type": "terminal.*", "to": ["aktau", "kuryk", "turkmenbashi"]},
             {"type": "shipment.status", "to": "all"}],
    "kuryk": TO_BAKU,
    "samsun": [{"type": "rail.consignment", "to": "baku"}, {"type": "terminal.*", "to": "baku"},
               {"type": "shipment.status", "to": "all"}],
    "turkmenbashi": TO_BAKU,
}
# Customs data is encrypted end to end between all ports, as in config/*.yaml.
ENCRYPTED = ["customs.*", "cargo.*"]
# Each port's local systems (adapter name -> settings beyond the folders). Each gets a folder
# it writes to (`out`, the adapter's inbox_dir) and one porthub writes to (`in`), unless it
# receives nothing.
TOS = {"kind": "terminal", "receives": ["vessel.*", "terminal.*", "shipment.status"]}
SYSTEMS: dict[str, dict[str, dict[str, Any]]] = {
    "aktau": {"tos": TOS,
              "agent": {"kind": "customs", "format": "edifact", "cuscar": "cuscar-pre-arrival",
                        "receives": ["customs.decision"]}},
    "baku": {"tos": TOS, "customs": {"kind": "customs"}, "ady": {"kind": "rail"},
             "ady-status": {"kind": "rail", "format": "iftsta", "receives": []}},
    "kuryk": {"tos": TOS},
    "samsun": {"tos": {**TOS, "receives": ["terminal.*", "shipment.status"]},
               "tcdd": {"kind": "rail"}},
    "turkmenbashi": {"tos": TOS},
}
NAMES = {"tos": "terminal", "agent": "agent", "customs": "customs", "ady": "railway ADY",
         "ady-status": "ADY status", "tcdd": "railway TCDD"}
FAST = {"retry": {"receipt_timeout": "2s", "reconnect_initial": "100ms",
                  "handover_initial": "100ms"}}
POLL = {"poll_interval": "20ms", "settle_time": 0}  # the demo moves complete files into place

CONTAINER, BL = "CSPU1234567", "AKTBAK250001"


@dataclass(frozen=True)
class Step:
    hub: str
    system: str
    file: str  # in hub/demo_data
    what: str


SHIPMENT = [
    Step("aktau", "tos", "baplie_aktau_baku.edi", "bay plan of CASPIAN STAR, voyage 0312E"),
    Step("aktau", "tos", "coarri_load_aktau.edi", f"{CONTAINER} loaded at Aktau"),
    Step("aktau", "agent", "cuscar_pre_arrival_baku.edi", "pre-arrival declaration for Baku"),
    Step("baku", "customs", "customs_decision_baku.xml", "Baku customs releases the container"),
    Step("baku", "tos", "codeco_gate_out_baku_rail.edi", "gated out onto a wagon at Alat"),
    Step("baku", "ady", "smgs_alat_samsun.xml", "CIM/SMGS consignment note Alat to Samsun"),
    Step("baku", "ady-status", "iftsta_rail_status_ady.edi", "loaded on the wagon"),
]


class DemoFailed(Exception):
    """The walk could not go on; the message says where it stopped."""


@dataclass(frozen=True)
class Folders:
    out: Path        # the local system writes here; the adapter takes its files
    into: Path | None  # the adapter writes here for the local system


@dataclass(frozen=True)
class Written:
    hub: str
    system: str
    type: str
    sender: str
    path: Path


@dataclass
class Outcome:
    ok: bool
    messages: int
    delivered: int
    handed_over: int
    duplicates: int
    forged_rejected: list[str]
    written: list[Written]
    seconds: float


@dataclass
class Timeline:
    """Watches every hub's events, prints what a person wants to see and keeps what the
    final check counts."""

    out: TextIO
    root: Path
    fingerprints: dict[str, str]
    folders: dict[tuple[str, str], Folders]
    start: float = field(default_factory=time.monotonic)
    submitted: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # id: from, to, type
    delivered: set[str] = field(default_factory=set)
    handed: Counter = field(default_factory=Counter)  # (hub, id)
    written: list[Written] = field(default_factory=list)

    def line(self, text: str) -> None:
        print(f"  +{time.monotonic() - self.start:6.3f}s  {text}", file=self.out, flush=True)

    def on_event(self, e: ev.Event) -> None:
        short = (e.message_id or "")[-8:]
        if e.kind == ev.SUBMITTED:
            self.submitted[e.message_id] = (e.hub, e.peer, e.type)
            self.line(f"{e.hub:>12} → {e.peer:<12} {e.type:<19} …{short}  signed by {e.hub} "
                      f"(Ed25519, cert {self.fingerprints[e.hub][:12]})")
        elif e.kind == ev.DELIVERED:
            self.delivered.add(e.message_id)
            self.line(f"{e.peer:>12} ✓ {e.hub:<12} receipt for …{short}: accepted, "
                      f"{e.detail.get('latency', 0) * 1000:.0f} ms after submit")
        elif e.kind == ev.HANDED_OVER:
            self.handed[(e.hub, e.message_id)] += 1
            found = self._file(e.hub, e.message_id, e.type, e.peer)
            self.line(f"{e.hub:>12} ⇣ {NAMES[found.system] if found else '?':<12} "
                      f"{e.type:<19} …{short}  written: "
                      f"{found.path.relative_to(self.root) if found else 'NOT FOUND'}")
        elif e.kind == ev.REFUSED:
            self.line(f"{e.hub:>12} ✗ refused a message claiming to be from "
                      f"{e.peer or 'nobody known'}: {e.reason}")
        elif e.kind == ev.DUPLICATE:
            self.line(f"{e.hub:>12} ↺ replay of …{short} from {e.peer}: original receipt "
                      f"sent again, not delivered twice")
        elif e.kind == ev.DEAD_LETTERED:
            self.line(f"{e.hub:>12} ✗ dead-lettered …{short}: {e.reason}")

    def _file(self, hub: str, message_id: str, type_name: str, sender: str) -> Written | None:
        for (owner, system), folders in self.folders.items():
            if owner == hub and folders.into is not None:
                for path in folders.into.glob(f"*{message_id}*"):
                    found = Written(hub, system, type_name, sender, path)
                    self.written.append(found)
                    return found
        return None


def _forger_certificate(hub_id: str) -> tuple[ed25519.Ed25519PrivateKey, bytes]:
    """A self-made certificate that claims to be ``hub_id``: not issued by the consortium."""
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hub_id)])
    now = utc(time.time())
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(pki.hub_uri(hub_id))]), critical=False)
            .sign(key, None))
    return key, cert.public_bytes(serialization.Encoding.DER)


def _attach_systems(sandbox: Sandbox) -> dict[tuple[str, str], Folders]:
    """Give every hub its local systems' adapters on folders under ``<hub>/systems``."""
    folders = {}
    for hub_id, systems in SYSTEMS.items():
        adapters = {}
        for name, settings in systems.items():
            base = sandbox.root / hub_id / "systems" / name
            receives = settings.get("receives") != []
            found = Folders(base / "out", base / "in" if receives else None)
            for folder in (found.out, found.into):
                if folder is not None:
                    folder.mkdir(parents=True)
            adapters[name] = {**settings, "inbox_dir": str(found.out), **POLL,
                              **({"outbox_dir": str(found.into)} if receives else {})}
            folders[(hub_id, name)] = found
        path = sandbox.config_paths[hub_id]
        config = yaml.safe_load(path.read_text())
        config["adapters"] = adapters
        path.write_text(yaml.safe_dump(config, sort_keys=False))
    return folders


async def _run(root: Path, out: TextIO) -> Outcome:
    sandbox = build_sandbox(root, HUBS, lambda h: {"kind": "memory", "broker": BROKER},
                            policy=POLICY, routes=ROUTES, extra=FAST,
                            encrypted_types=ENCRYPTED)
    folders = _attach_systems(sandbox)
    hubs = {hub_id: Hub.from_config(sandbox.config(hub_id)) for hub_id in HUBS}
    fingerprints = {hub_id: pki.fingerprint(x509.load_der_x509_certificate(
        hub.identity.cert_der)) for hub_id, hub in hubs.items()}
    timeline = Timeline(out, root, fingerprints, folders)
    print(f"porthub demo: {len(HUBS)} port hubs ({', '.join(HUBS)}) on the in-memory "
          f"transport,\nstores, keys, configurations and the local systems' folders in "
          f"{root}\n\nShipment {CONTAINER}, B/L {BL}: Aktau → Baku by ferry, Baku → Samsun "
          f"by rail.\nEach step drops the file a port's own system writes into its folder; "
          f"the hub reads it,\nsigns and sends what it says (customs and cargo data sealed "
          f"for the recipient port,\nunreadable on the way), and the receiving hub writes it "
          f"for its own systems.\n", file=out)
    for hub in hubs.values():
        hub.events.observers.append(timeline)
        await hub.start()
    try:
        for step in SHIPMENT:
            await _walk(step, folders[(step.hub, step.system)].out, timeline)
        print(file=out)
        timeline.line("an attacker with write access to Aktau's inbox tries three things:")
        forged = await _attacks(hubs, timeline)
        await _wait(lambda: sum(h.metrics.value("porthub_inbound_rejected_total", reason=r)
                                for h in hubs.values() for r in forged) >= len(forged), 10,
                    "the attacks to be refused")
    finally:
        for hub in hubs.values():
            await hub.stop()

    delivered = sum(int(hub.metrics.value("porthub_messages_delivered_total", peer=p))
                    for hub in hubs.values() for p in HUBS)
    files = Counter(w.path.name for w in timeline.written)
    exactly_once = all(timeline.handed[(to, mid)] == 1 and
                       sum(1 for name in files if mid in name) == 1
                       for mid, (_, to, _) in timeline.submitted.items())
    duplicates = sum(1 for n in timeline.handed.values() if n > 1)
    refused = [r for r in forged if sum(h.metrics.value("porthub_inbound_rejected_total",
                                                         reason=r) for h in hubs.values())]
    ok = (delivered == len(timeline.submitted) == len(timeline.delivered) and exactly_once
          and len(timeline.written) == len(timeline.submitted) and duplicates == 0
          and refused == forged)
    return Outcome(ok, len(timeline.submitted), delivered, sum(timeline.handed.values()),
                   duplicates, refused, timeline.written, time.monotonic() - timeline.start)


async def _walk(step: Step, folder: Path, timeline: Timeline, timeout: float = 10.0) -> None:
    """Drop one file the way a well-behaved system does (write aside, then rename), and wait
    until every message it became is receipted and handed over at its recipient."""
    data = (resources.files("hub") / "demo_data" / step.file).read_bytes()
    timeline.line(f"{step.hub:>12}   {NAMES[step.system]}: {step.what} — drops {step.file} "
                  f"into {folder.relative_to(timeline.root)}")
    aside = folder / f"{step.file}.part"
    aside.write_bytes(data)
    aside.rename(folder / step.file)
    done, failed = (folder / d / f"{step.file}.outcome.json" for d in ("done", "failed"))
    await _wait(lambda: done.exists() or failed.exists(), timeout,
                f"{step.hub} to take {step.file}")
    if failed.exists():
        document = json.loads(failed.read_bytes())
        raise DemoFailed(f"{step.hub} refused {step.file}: {document['detail']}")
    document: dict[str, Any] = {}

    def settled() -> bool:
        document.update(json.loads(done.read_bytes()))
        return document["state"] != "submitted" and all(
            timeline.handed[(m["to"], m["id"])] for m in document["messages"])

    await _wait(settled, timeout, f"the messages of {step.file} to be delivered")
    if document["state"] != "delivered":
        raise DemoFailed(f"{step.file}: {document['state']} ({document['reason']})")


async def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.01)


async def _attacks(hubs: dict[str, Hub], timeline: Timeline) -> list[str]:
    """Inject a forged, a tampered and a replayed message straight into Aktau's inbox queue."""
    broker = memory.get_broker(BROKER)
    inbox = "porthub.aktau.inbox"
    genuine = await _latest_outgoing(hubs["baku"], "aktau")
    parsed = jws.parse(genuine)
    decision = Envelope.from_bytes(parsed.payload)
    now = utc(time.time())
    fake = Envelope(id=new_message_id(), type="customs.decision", sender="baku", to="aktau",
                    created=now, expires=now + timedelta(days=1),
                    body={**decision.body, "decision": "released"}, correlation_id=BL)
    key, cert_der = _forger_certificate("baku")
    timeline.line(f"{'':>12}   1. a customs release signed with a self-made 'baku' certificate")
    broker.publish(inbox, jws.sign(fake.to_bytes(), key, cert_der))

    altered = parsed.payload.replace(b'"decision":"released"', b'"decision":"held"')
    tampered = genuine.replace(jws.b64url_encode(parsed.payload).encode(),
                               jws.b64url_encode(altered).encode())
    timeline.line(f"{'':>12}   2. Baku's genuine customs decision, 'released' changed to 'held'")
    broker.publish(inbox, tampered)
    # Customs decisions travel sealed for Aktau; the attacker seals the copy the same way,
    # with Aktau's encryption certificate, which is no secret.
    timeline.line(f"{'':>12}   3. Baku's genuine customs decision, replayed as it was "
                  f"(sealed for Aktau again)")
    broker.publish(inbox, jwe.seal(genuine, hubs["baku"].encryption.recipient_key("aktau")))
    return ["untrusted_certificate", "bad_signature", "duplicate"]


async def _latest_outgoing(hub: Hub, peer: str) -> bytes:
    def op(conn):
        return conn.execute("SELECT jws FROM messages WHERE direction = 'out' AND peer = ?"
                            " AND type = 'customs.decision' ORDER BY id DESC LIMIT 1",
                            (peer,)).fetchone()[0]
    return await hub.store._writer.run(op)


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Refusals are on the timeline already; the warnings they log would only repeat them.
    The loggers' levels are put back afterwards (the demo may run inside another program)."""
    loggers = [logging.getLogger(name) for name in names]
    before = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, before):
            logger.setLevel(level)


def run_demo(out: TextIO, keep: Path | None = None) -> int:
    """Run the demo; return 0 only if every message arrived exactly once with its receipt."""
    with tempfile.TemporaryDirectory(prefix="porthub-demo-") as tmp:
        root = (keep or Path(tmp)).resolve()
        memory.drop_broker(BROKER)
        try:
            with _quiet("hub", "adapters"):
                outcome = asyncio.run(asyncio.wait_for(_run(root, out), 60))
        except (DemoFailed, TimeoutError) as exc:
            print(f"\nFAILED: {exc or 'the demo took more than 60 s'}", file=out)
            return 1
        audits = _verify_audits(root)
        _print_files(out, root, outcome.written, keep is not None)
    print(f"\nSummary: {outcome.messages} messages submitted, {outcome.delivered} receipted as "
          f"delivered, {outcome.handed_over} handed over to local systems, "
          f"{outcome.duplicates} delivered twice.", file=out)
    print(f"Attacks refused: {', '.join(outcome.forged_rejected) or 'none'}. "
          f"Audit chains intact: {audits}/{len(HUBS)}. Took {outcome.seconds:.2f} s.", file=out)
    ok = outcome.ok and audits == len(HUBS)
    print("OK: every message arrived exactly once, with its receipt." if ok else
          "FAILED: see above.", file=out)
    return 0 if ok else 1


def _print_files(out: TextIO, root: Path, written: list[Written], kept: bool) -> None:
    """The files the hubs wrote for their local systems, by port and system."""
    where = "kept there" if kept else "removed when the demo ends; --keep DIR keeps them"
    print(f"\nFiles written for the ports' own systems, under {root} ({where}):", file=out)
    first = {"baku": 0, "tcdd": 1}  # where the shipment ends up: Baku, then the railway
    for w in sorted(written, key=lambda w: (first.get(w.hub, first.get(w.system, 2)), w.hub,
                                            w.system, w.path.name)):
        owner = f"{w.hub.title()}'s {NAMES[w.system]}"
        print(f"  {owner:<28} {w.path.relative_to(root)}  ({w.type} from {w.sender})",
              file=out)


def _verify_audits(root: Path) -> int:
    from .store import Store

    intact = 0
    for hub_id in HUBS:
        store = Store(root / hub_id / "data" / "hub.db")
        try:
            intact += store.verify_audit_sync().ok
        finally:
            store.close()
    return intact
