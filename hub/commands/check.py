"""``porthub check -c FILE [--connect]``: validate a configuration the way the daemon would
load it -- keys, certificates, trust, folders, adapters -- and with ``--connect`` reach the
brokers. Exit 0 when all is well, 1 with a list of problems, 2 when the file itself is
invalid (``file:line: key: problem``)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import datetime, timezone

from ..errors import ConfigError, PermanentError, PorthubError, Rejected
from .common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, add_config_argument, fail

EXPIRY_WARNING_DAYS = 30
CONNECT_TIMEOUT = 15.0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("check", help="validate a configuration (and reach the brokers)",
                            description=__doc__)
    add_config_argument(parser)
    parser.add_argument("--connect", action="store_true",
                        help="also connect to the inbox and to every peer's broker")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..daemon import load

    try:
        config, identity, trust = load(args.config)
    except (ConfigError, PermanentError) as exc:
        return fail(f"configuration error: {exc}", EXIT_CONFIG)
    return asyncio.run(_check(config, identity, trust, args.connect))


async def _check(config, identity, trust, connect: bool) -> int:
    from ..core import Hub
    from ..transports import load as load_transport

    ok, problems = [], []
    now = datetime.now(timezone.utc)
    ok.append(f"configuration {config.hub.id}: {len(config.peers)} peers, "
              f"{len(config.routes)} routes, {len(config.adapters)} adapters")
    try:
        trust.certificate(identity.cert_der, now)
        days = (identity.not_after - now).days
        (problems if days < EXPIRY_WARNING_DAYS else ok).append(
            f"certificate of {identity.hub_id} valid, expires in {days} days "
            f"({identity.not_after:%Y-%m-%d})")
    except Rejected as exc:
        problems.append(f"this hub's own certificate is not accepted by its trust store: "
                        f"{exc.reason}: {exc.detail}")
    problems += _folder_problems(config.hub.data_dir)
    hub = Hub(config, identity, trust)
    if hub.encryption.keys or hub.encryption.peer_certs:
        ok.append(f"encryption: {len(hub.encryption.keys)} decryption key(s); encryption "
                  f"certificates of {', '.join(sorted(hub.encryption.peer_certs)) or 'no peer'}")
        problems += _encryption_expiry(hub.encryption, config.hub.id, now)
    if config.adapters:
        from ..plugins import AdapterHost

        for name, adapter in AdapterHost(hub, config.adapters).adapters.items():
            found = await adapter.check()
            problems += [f"adapter {name}: {p}" for p in found]
            if not found:
                ok.append(f"adapter {name} ({adapter.config.kind})")
    if connect:
        targets = [("inbox", load_transport(config.inbox.kind).inbox(config.inbox, hub.id))]
        targets += [(f"peer {peer}", load_transport(p.transport.kind).outlet(
            p.transport, peer, hub.id)) for peer, p in config.peers.items()]
        for label, component in targets:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    await component.connect()
                ok.append(f"{label}: connected to {component.describe()}")
            except (PorthubError, TimeoutError, OSError) as exc:
                problems.append(f"{label}: cannot connect to {component.describe()}: "
                                f"{exc or 'timed out'}")
            finally:
                await component.close()
    for line in ok:
        print(f"ok       {line}")
    for line in problems:
        print(f"PROBLEM  {line}", file=sys.stderr)
    return EXIT_FAILED if problems else EXIT_OK


def _encryption_expiry(encryption, hub_id: str, now: datetime) -> list[str]:
    """The encryption certificates in use that expire within EXPIRY_WARNING_DAYS."""
    expiring = {peer: (when, f"ask {peer} for its new one (docs/operations.md, Rotate a "
                             "certificate)") for peer, when in encryption.peer_expiries().items()}
    if encryption.own_expiry is not None:
        expiring[hub_id] = (encryption.own_expiry, "rotate it (docs/operations.md, Rotate a "
                                                   "certificate)")
    return [f"the encryption certificate of {who} expires in {(when - now).days} days "
            f"({when:%Y-%m-%d}): {what}" for who, (when, what) in sorted(expiring.items())
            if (when - now).days < EXPIRY_WARNING_DAYS]


def _folder_problems(folder) -> list[str]:
    if folder.exists():
        if not folder.is_dir():
            return [f"hub.data_dir {folder} is not a folder"]
        if not os.access(folder, os.W_OK | os.X_OK):
            return [f"hub.data_dir {folder} is not writable by this user"]
        return []
    parent = next((p for p in folder.parents if p.exists()), None)
    if parent is None or not os.access(parent, os.W_OK | os.X_OK):
        return [f"hub.data_dir {folder} does not exist and cannot be created here"]
    return []
