"""The durable SQLite store (WAL, synchronous=FULL, group commit)."""

from .store import Incoming, Outgoing, Store

__all__ = ["Incoming", "Outgoing", "Store"]
