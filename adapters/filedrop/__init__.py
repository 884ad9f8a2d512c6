"""filedrop: hot folders in and out (README.md beside this file)."""

from .adapter import FiledropAdapter
from .config import FiledropConfig

__all__ = ["FiledropAdapter", "FiledropConfig"]
