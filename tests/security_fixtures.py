"""A small consortium PKI for the security tests and the test vectors, made in a temp dir.

Hubs: ``aktau`` (Ed25519, the usual sender), ``baku`` (Ed25519, the usual recipient, with an
X25519 encryption certificate ``baku-enc.crt`` beside its signing one),
``samsun`` (P-256, sends ES256), ``kuryk`` (valid, but not a peer of baku) and three bad
certificates for ``aktau``: expired, revoked (in the CRL) and issued by another CA that has
the same name as the consortium CA.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from hub.envelope import Envelope
from hub.ids import new_message_id
from hub.security import pki
from hub.security.identity import Identity
from hub.security.trust import TrustStore
from hub.verify import Verifier

RECIPIENT = "baku"
PEERS = {"aktau": ["cargo.*", "vessel.*", "shipment.status"], "samsun": ["*"]}
MAX_BYTES = 8192
CLOCK_SKEW = 300.0
MANIFEST = {
    "manifest_no": "AKT-2026-0412",
    "vessel": {"imo": "IMO 9074729", "name": "Aktau Star", "voyage": "CS12E"},
    "port_of_loading": "KZAAU",
    "port_of_discharge": "AZBAK",
    "containers": [
        {"number": "CSQU3054383", "iso_type": "22G1", "gross_weight_kg": 24000,
         "goods": "wheat flour, bagged", "seal": "KZ0412883"},
    ],
}


@dataclass
class PKIWorld:
    root: Path
    now: datetime
    ca_dir: Path = field(init=False)
    crl: Path = field(init=False)

    def __post_init__(self) -> None:
        self.ca_dir = self.root / "ca"
        self.crl = self.root / "crl.pem"

    @classmethod
    def build(cls, root: Path, now: datetime) -> "PKIWorld":
        world = cls(root, now)
        pki.init_ca(world.ca_dir)
        for hub_id, algorithm in (("aktau", "ed25519"), ("baku", "ed25519"),
                                  ("samsun", "p256"), ("kuryk", "ed25519")):
            pki.issue(world.ca_dir, hub_id, world.hub_dir(hub_id), algorithm=algorithm)
        pki.issue(world.ca_dir, RECIPIENT, world.hub_dir(RECIPIENT), encryption=True)
        pki.issue(world.ca_dir, "aktau", world.hub_dir("aktau-expired"),
                  not_before=now - timedelta(days=400), not_after=now - timedelta(days=1))
        revoked, _ = pki.issue(world.ca_dir, "aktau", world.hub_dir("aktau-revoked"))
        pki.revoke(world.ca_dir, revoked)
        pki.make_crl(world.ca_dir, world.crl)
        pki.init_ca(root / "other-ca")  # same name as the consortium CA, another key
        pki.issue(root / "other-ca", "aktau", world.hub_dir("aktau-other-ca"))
        return world

    def hub_dir(self, name: str) -> Path:
        return self.root / "hubs" / name

    def paths(self, name: str) -> tuple[Path, Path]:
        """(certificate, key) of a hub, by its name in this world."""
        hub_id = name.split("-")[0]
        return self.hub_dir(name) / f"{hub_id}.crt", self.hub_dir(name) / f"{hub_id}.key"

    def identity(self, name: str) -> Identity:
        cert, key = self.paths(name)
        return Identity.load(key, cert)

    def encryption_paths(self, name: str = RECIPIENT) -> tuple[Path, Path]:
        """(certificate, key) of a hub's encryption certificate."""
        stem = name + pki.ENCRYPTION_SUFFIX
        return self.hub_dir(name) / f"{stem}.crt", self.hub_dir(name) / f"{stem}.key"

    def cert_pem(self, name: str) -> bytes:
        return self.paths(name)[0].read_bytes()

    def ca_pem(self) -> bytes:
        return (self.ca_dir / pki.CA_CERT).read_bytes()

    def trust(self) -> TrustStore:
        return TrustStore(self.ca_pem(), self.crl.read_bytes())

    def verifier(self, **overrides) -> Verifier:
        options = dict(hub_id=RECIPIENT, trust=self.trust(), peers=PEERS, max_bytes=MAX_BYTES,
                       clock_skew=CLOCK_SKEW, clock=self.now.timestamp)
        options.update(overrides)
        return Verifier(**options)

    def envelope(self, sender: str = "aktau", to: str = RECIPIENT,
                 type: str = "cargo.manifest", created: datetime | None = None,
                 expires: datetime | None = None, body: object = None) -> Envelope:
        created = created or self.now - timedelta(seconds=2)
        return Envelope(
            id=new_message_id(int(created.timestamp() * 1000)), type=type, sender=sender,
            to=to, created=created, expires=expires or created + timedelta(days=2),
            body=MANIFEST if body is None else body, correlation_id="AKT-2026-0412")

    def message(self, signer: str = "aktau", **envelope_fields) -> bytes:
        """A JWS signed by ``signer`` (a name in this world) of an envelope from its hub."""
        envelope_fields.setdefault("sender", signer.split("-")[0])
        return self.identity(signer).sign(self.envelope(**envelope_fields).to_bytes())
