"""http: a local REST API in, webhook delivery out (README.md beside this file)."""

from .adapter import HttpAdapter
from .config import HttpConfig

__all__ = ["HttpAdapter", "HttpConfig"]
