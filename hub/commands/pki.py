"""``porthub pki``: run the consortium CA — create it, issue, revoke, publish the CRL, show.

Private keys are written to files (mode 0600) and never printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519

from ..errors import PorthubError
from ..security import pki

EXIT_OK, EXIT_FAILED = 0, 1
CA_DIR_HELP = "the CA directory made by init-ca"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pki", help="run the consortium CA: issue, revoke and show hub certificates",
        description="Run the consortium CA. Private keys go to files (mode 0600), "
                    "never to the terminal.")
    sub = parser.add_subparsers(dest="pki_command", metavar="ACTION", required=True)

    p = sub.add_parser("init-ca", help="create the CA key and certificate in DIR")
    p.add_argument("--dir", required=True, type=Path, metavar="DIR",
                   help="CA directory (created if missing)")
    p.add_argument("--name", default="porthub consortium CA", help="CA common name")
    p.add_argument("--days", type=_days, default=3650, help="validity in days (default 3650)")
    p.set_defaults(func=_command(_init_ca))

    p = sub.add_parser("issue", help="issue a key and certificate for a hub")
    p.add_argument("hub_id", metavar="HUB_ID", help="the hub's id, e.g. aktau")
    p.add_argument("--ca-dir", required=True, type=Path, metavar="DIR", help=CA_DIR_HELP)
    p.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="where HUB_ID.key (0600) and HUB_ID.crt go")
    p.add_argument("--days", type=_days, default=825, help="validity in days (default 825)")
    p.add_argument("--algorithm", choices=pki.ALGORITHMS, default="ed25519")
    p.add_argument("--encryption", action="store_true",
                   help="issue the hub's encryption certificate instead (an X25519 "
                        "key-agreement key, HUB_ID-enc.crt and HUB_ID-enc.key) that peers "
                        "encrypt messages to")
    p.set_defaults(func=_command(_issue))

    p = sub.add_parser("revoke", help="record a revocation (then make a new CRL)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--serial", type=_hex_serial, metavar="HEX",
                       help="certificate serial, in hex")
    which.add_argument("--cert", type=Path, metavar="FILE", help="certificate file")
    p.add_argument("--ca-dir", required=True, type=Path, metavar="DIR", help=CA_DIR_HELP)
    p.add_argument("--reason", choices=pki.REASONS, default="keyCompromise", metavar="REASON",
                   help=f"one of {', '.join(pki.REASONS)} (default keyCompromise)")
    p.set_defaults(func=_command(_revoke))

    p = sub.add_parser("crl", help="write the CRL of every revoked certificate")
    p.add_argument("--ca-dir", required=True, type=Path, metavar="DIR", help=CA_DIR_HELP)
    p.add_argument("--out", required=True, type=Path, metavar="FILE", help="CRL file (PEM)")
    p.add_argument("--days", type=_days, default=7, help="days until next update (default 7)")
    p.set_defaults(func=_command(_crl))

    p = sub.add_parser("show", help="show a certificate: hub id, serial, validity, fingerprint")
    p.add_argument("file", metavar="FILE", type=Path)
    p.set_defaults(func=_command(_show))


def _command(action: Callable[[argparse.Namespace], None]) -> Callable[[argparse.Namespace], int]:
    """Run ``action``; an expected failure becomes one line on stderr and exit code 1."""
    def run(args: argparse.Namespace) -> int:
        try:
            action(args)
        except (PorthubError, OSError) as exc:
            print(f"porthub pki {args.pki_command}: {exc}", file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK
    return run


def _days(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"days must be a whole number of at least 1, got {text!r}")
    return int(text)


def _hex_serial(text: str) -> int:
    try:
        return int(text.removeprefix("0x").replace(":", ""), 16)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a hex serial: {text!r}") from None


def _init_ca(args: argparse.Namespace) -> None:
    cert = pki.init_ca(args.dir, name=args.name, days=args.days)
    print(f"created CA {args.name!r}: certificate {cert}, key {args.dir / pki.CA_KEY} (0600)")


def _issue(args: argparse.Namespace) -> None:
    cert, key = pki.issue(args.ca_dir, args.hub_id, args.out, days=args.days,
                          algorithm=args.algorithm, encryption=args.encryption)
    what = "encryption certificate" if args.encryption else "certificate"
    print(f"issued {args.hub_id}: {what} {cert}, key {key} (0600)")


def _revoke(args: argparse.Namespace) -> None:
    serial = pki.revoke(args.ca_dir, args.serial if args.cert is None else args.cert,
                        reason=args.reason)
    print(f"revoked serial {serial:x} ({args.reason}); publish it with 'porthub pki crl'")


def _crl(args: argparse.Namespace) -> None:
    out = pki.make_crl(args.ca_dir, args.out, days=args.days)
    print(f"wrote CRL {out}")


def _show(args: argparse.Namespace) -> None:
    cert = pki.load_certificate(args.file)
    try:
        hub_id = pki.hub_id_of(cert)
    except ValueError:
        hub_id = "-"
    key = cert.public_key()
    algorithm = ("Ed25519" if isinstance(key, ed25519.Ed25519PublicKey)
                 else f"ECDSA {key.curve.name}" if isinstance(key, ec.EllipticCurvePublicKey)
                 else "X25519 (encryption)" if isinstance(key, x25519.X25519PublicKey)
                 else type(key).__name__)
    for label, value in (
            ("subject", cert.subject.rfc4514_string()),
            ("issuer", cert.issuer.rfc4514_string()),
            ("hub id", hub_id),
            ("serial", f"{cert.serial_number:x}"),
            ("not before", cert.not_valid_before_utc.isoformat()),
            ("not after", cert.not_valid_after_utc.isoformat()),
            ("key", algorithm),
            ("sha256", pki.fingerprint(cert))):
        print(f"{label + ':':12}{value}")
