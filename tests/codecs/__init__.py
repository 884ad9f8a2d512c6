"""Codec tests; the files they read are in tests/codecs/data (the five EDIFACT samples from the
project's shared fixtures, and variants of them)."""

from pathlib import Path

DATA = Path(__file__).parent / "data"


def data(name: str) -> bytes:
    return (DATA / name).read_bytes()
