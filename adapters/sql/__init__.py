"""sql: poll an outbox table, write an inbox table (README.md beside this file)."""

from .adapter import SqlAdapter
from .config import SqlConfig

__all__ = ["SqlAdapter", "SqlConfig"]
