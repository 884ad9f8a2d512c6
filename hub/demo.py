"""``porthub demo``: five port hubs in one process on the in-memory transport, with real
stores, keys, certificates, signatures, receipts and routing, walking one shipment from Aktau
to Baku by sea and on to Samsun by rail."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from . import events as ev
from .core import Hub
from .envelope import Envelope, utc
from .ids import new_message_id
from .sandbox import build_sandbox
from .security import jws, pki
from .transports import memory

HUBS = ["aktau", "baku", "kuryk", "samsun", "turkmenbashi"]
BROKER = "demo"

# What each port may send, as the consortium agreed it (every receiver enforces this).
POLICY = {
    "aktau": ["vessel.*", "terminal.*", "cargo.*", "customs.pre_arrival", "shipment.status"],
    "baku": ["vessel.*", "terminal.*", "customs.*", "rail.consignment", "shipment.status"],
    "kuryk": ["vessel.*", "terminal.*", "cargo.*", "shipment.status"],
    "samsun": ["terminal.*", "rail.consignment", "shipment.status"],
    "turkmenbashi": ["vessel.*", "terminal.*", "cargo.*", "shipment.status"],
}
ROUTES = {
    "aktau": [{"type": "vessel.*", "to": "baku"}, {"type": "cargo.*", "to": "baku"},
              {"type": "shipment.status", "to": "all"}],
    "baku": [{"type": "customs.decision", "to": "aktau"}, {"type": "rail.*", "to": "samsun"},
             {"type": "shipment.status", "to": "all"}],
    "samsun": [{"type": "shipment.status", "to": "all"}],
}
FAST = {"retry": {"receipt_timeout": "2s", "reconnect_initial": "100ms",
                  "handover_initial": "100ms"}}

VESSEL = {"imo": "9123453", "name": "CASPIAN STAR"}
CONTAINER, BL = "CSPU1234567", "AKTBAK250001"
SHIPMENT: list[tuple[str, str, str, dict[str, Any]]] = [
    ("aktau", "vessel.bayplan", "bay plan of CASPIAN STAR, voyage 0312E", {
        "vessel": VESSEL, "voyage": "0312E", "port": "KZAAU", "next_port": "AZBAK",
        "containers": [{"container": CONTAINER, "position": "0020482", "size_type": "22G1",
                        "weight_kg": 24310, "pol": "KZAAU", "pod": "AZBAK",
                        "bill_of_lading": BL, "full": True}]}),
    ("aktau", "cargo.manifest", "cargo manifest for Baku customs", {
        "vessel": VESSEL, "voyage": "0312E", "pol": "KZAAU", "pod": "AZBAK",
        "consignments": [{"bill_of_lading": BL, "containers": [CONTAINER],
                          "goods": "Cotton yarn", "hs_code": "520511", "gross_kg": 24310,
                          "packages": 40}]}),
    ("aktau", "shipment.status", "loaded and sailed", {
        "container": CONTAINER, "bill_of_lading": BL, "status": "departed",
        "location": "KZAAU", "at": "2025-03-12T08:15:00Z"}),
    ("baku", "customs.decision", "released by Baku customs", {
        "declaration_ref": "AZ-BAK-2025-000871", "bill_of_lading": BL,
        "containers": [CONTAINER], "decision": "released",
        "decided_at": "2025-03-13T19:02:00Z", "authority": "State Customs Committee"}),
    ("baku", "rail.consignment", "CIM/SMGS consignment note Alat to Samsun", {
        "consignment_note": "SMGS-ADY-250313-0042", "convention": "CIM/SMGS",
        "from_station": "Alat", "to_station": "Samsun", "from_locode": "AZBAK",
        "to_locode": "TRSSX", "wagon": "59570012345", "containers": [CONTAINER],
        "gross_kg": 24310, "goods": "Cotton yarn"}),
    ("baku", "shipment.status", "gated out onto rail at Alat", {
        "container": CONTAINER, "bill_of_lading": BL, "status": "on_rail",
        "location": "AZBAK", "at": "2025-03-14T06:40:00Z"}),
    ("samsun", "shipment.status", "arrived at Samsun by rail", {
        "container": CONTAINER, "bill_of_lading": BL, "status": "arrived",
        "location": "TRSSX", "at": "2025-03-19T11:05:00Z"}),
]


@dataclass
class Outcome:
    ok: bool
    messages: int
    delivered: int
    handed_over: int
    duplicates: int
    forged_rejected: list[str]
    seconds: float


class Timeline:
    """Watches every hub's events and prints what a person wants to see."""

    def __init__(self, out: TextIO, start: float, fingerprints: dict[str, str]) -> None:
        self.out, self.start, self.fingerprints = out, start, fingerprints
        self.types: dict[str, str] = {}

    def line(self, text: str) -> None:
        print(f"  +{time.monotonic() - self.start:6.3f}s  {text}", file=self.out, flush=True)

    def on_event(self, e: ev.Event) -> None:
        short = (e.message_id or "")[-8:]
        if e.kind == ev.SUBMITTED:
            self.types[e.message_id] = e.type
            self.line(f"{e.hub:>12} → {e.peer:<12} {e.type:<18} …{short}  signed by {e.hub} "
                      f"(Ed25519, cert {self.fingerprints[e.hub][:12]})")
        elif e.kind == ev.DELIVERED:
            self.line(f"{e.peer:>12} ✓ {e.hub:<12} receipt for …{short}: accepted, "
                      f"{e.detail.get('latency', 0) * 1000:.0f} ms after submit")
        elif e.kind == ev.REFUSED:
            self.line(f"{e.hub:>12} ✗ refused a message claiming to be from "
                      f"{e.peer or 'nobody known'}: {e.reason}")
        elif e.kind == ev.DUPLICATE:
            self.line(f"{e.hub:>12} ↺ replay of …{short} from {e.peer}: original receipt "
                      f"sent again, not delivered twice")


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


async def _run(root: Path, out: TextIO) -> Outcome:
    sandbox = build_sandbox(root, HUBS, lambda h: {"kind": "memory", "broker": BROKER},
                            policy=POLICY, routes=ROUTES, extra=FAST)
    hubs: dict[str, Hub] = {}
    handed: dict[str, list[Envelope]] = {h: [] for h in HUBS}
    started = time.monotonic()
    fingerprints = {}
    for hub_id in HUBS:
        hub = Hub.from_config(sandbox.config(hub_id))
        fingerprints[hub_id] = pki.fingerprint(
            x509.load_der_x509_certificate(hub.identity.cert_der))
        hubs[hub_id] = hub
    timeline = Timeline(out, started, fingerprints)
    for hub_id, hub in hubs.items():
        hub.events.observers.append(timeline)

        async def deliver(envelope: Envelope, hub_id: str = hub_id) -> None:
            handed[hub_id].append(envelope)

        hub.local_delivery = deliver
        await hub.start()

    print(f"porthub demo: {len(HUBS)} port hubs ({', '.join(HUBS)}) on the in-memory "
          f"transport,\nstores and keys in {root}\n\nShipment {CONTAINER}, B/L {BL}: Aktau → "
          f"Baku by ferry, Baku → Samsun by rail\n", file=out)
    submitted: dict[str, str] = {}  # message id -> recipient
    try:
        for sender, type_name, what, body in SHIPMENT:
            timeline.line(f"{sender:>12}   {what}")
            result = await hubs[sender].submit(type_name, body, correlation_id=BL)
            submitted.update(zip(result.ids, result.recipients))
            await _settled(hubs[sender], result.ids)

        print(file=out)
        timeline.line("an attacker with write access to Aktau's inbox tries three things:")
        forged = await _attacks(hubs, timeline)
        await _wait(lambda: sum(h.metrics.value("porthub_inbound_rejected_total", reason=r)
                                for h in hubs.values() for r in forged) >= len(forged), 10)
        await _wait(lambda: sum(map(len, handed.values())) >= len(submitted), 10)
    finally:
        for hub in hubs.values():
            await hub.stop()

    delivered = 0
    for hub in hubs.values():
        delivered += int(sum(hub.metrics.value("porthub_messages_delivered_total", peer=p)
                             for p in HUBS))
    handed_ids = Counter(e.id for envs in handed.values() for e in envs)
    right_place = all(any(e.id == mid for e in handed[to]) for mid, to in submitted.items())
    duplicates = sum(1 for n in handed_ids.values() if n > 1)
    refused = [r for r in forged if sum(h.metrics.value("porthub_inbound_rejected_total",
                                                         reason=r) for h in hubs.values())]
    ok = (delivered == len(submitted) and len(handed_ids) == len(submitted) and right_place
          and duplicates == 0 and refused == forged)
    return Outcome(ok, len(submitted), delivered, sum(handed_ids.values()), duplicates,
                   refused, time.monotonic() - started)


async def _settled(hub: Hub, ids: list[str], timeout: float = 10.0) -> None:
    async def done() -> bool:
        for message_id in ids:
            rows = await hub.message(message_id)
            if not any(r["state"] == "delivered" for r in rows):
                return False
        return True

    deadline = time.monotonic() + timeout
    while not await done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"messages of {hub.id} not receipted within {timeout} s")
        await asyncio.sleep(0.01)


async def _wait(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the demo did not reach its end state in time")
        await asyncio.sleep(0.01)


async def _attacks(hubs: dict[str, Hub], timeline: Timeline) -> list[str]:
    """Inject a forged, a tampered and a replayed message straight into Aktau's inbox queue."""
    broker = memory.get_broker(BROKER)
    inbox = "porthub.aktau.inbox"
    now = utc(time.time())
    fake = Envelope(id=new_message_id(), type="customs.decision", sender="baku", to="aktau",
                    created=now, expires=now + timedelta(days=1),
                    body={**SHIPMENT[3][3], "decision": "released"}, correlation_id=BL)
    key, cert_der = _forger_certificate("baku")
    timeline.line(f"{'':>12}   1. a customs release signed with a self-made 'baku' certificate")
    broker.publish(inbox, jws.sign(fake.to_bytes(), key, cert_der))

    genuine = await _latest_outgoing(hubs["baku"], "aktau")
    parsed = jws.parse(genuine)
    altered = parsed.payload.replace(b'"decision":"released"', b'"decision":"held"')
    tampered = genuine.replace(jws.b64url_encode(parsed.payload).encode(),
                               jws.b64url_encode(altered).encode())
    timeline.line(f"{'':>12}   2. Baku's genuine customs decision, 'released' changed to 'held'")
    broker.publish(inbox, tampered)
    timeline.line(f"{'':>12}   3. Baku's genuine customs decision, replayed as it was")
    broker.publish(inbox, genuine)
    return ["untrusted_certificate", "bad_signature", "duplicate"]


async def _latest_outgoing(hub: Hub, peer: str) -> bytes:
    def op(conn):
        return conn.execute("SELECT jws FROM messages WHERE direction = 'out' AND peer = ?"
                            " AND type = 'customs.decision' ORDER BY id DESC LIMIT 1",
                            (peer,)).fetchone()[0]
    return await hub.store._writer.run(op)


def run_demo(out: TextIO, keep: Path | None = None) -> int:
    """Run the demo; return 0 only if every message arrived exactly once with its receipt."""
    with tempfile.TemporaryDirectory(prefix="porthub-demo-") as tmp:
        root = keep or Path(tmp)
        memory.drop_broker(BROKER)
        # Refusals are on the timeline already; the warnings they log would only repeat them.
        logging.getLogger("hub").setLevel(logging.ERROR)
        outcome = asyncio.run(asyncio.wait_for(_run(root, out), 60))
        audits = _verify_audits(root)
    print(f"\nSummary: {outcome.messages} messages submitted, {outcome.delivered} receipted as "
          f"delivered, {outcome.handed_over} handed over to local systems, "
          f"{outcome.duplicates} delivered twice.", file=out)
    print(f"Attacks refused: {', '.join(outcome.forged_rejected) or 'none'}. "
          f"Audit chains intact: {audits}/{len(HUBS)}. Took {outcome.seconds:.2f} s.", file=out)
    ok = outcome.ok and audits == len(HUBS)
    print("OK: every message arrived exactly once, with its receipt." if ok else
          "FAILED: see above.", file=out)
    return 0 if ok else 1


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
