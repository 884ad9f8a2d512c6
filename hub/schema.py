"""The canonical message types and their JSON Schemas (hub/schemas/<type>.json)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
from referencing import Registry, Resource

from . import identifiers
from .errors import SubmitError
from .names import did_you_mean

_FORMATS = jsonschema.FormatChecker()
_FORMATS.checks("iso6346")(identifiers.is_container_number)
_FORMATS.checks("imo")(identifiers.is_imo_number)
_FORMATS.checks("unlocode")(identifiers.is_unlocode)

RECEIPT = "hub.receipt"


class Schemas:
    """Every known type with a validator; loaded once from the package."""

    def __init__(self) -> None:
        files = resources.files("hub") / "schemas"
        documents = {f.name: json.loads(f.read_text()) for f in files.iterdir()
                     if f.name.endswith(".json")}
        registry = Registry().with_resources(
            (doc["$id"], Resource.from_contents(doc)) for doc in documents.values())
        self._validators = {
            name[:-5]: jsonschema.Draft202012Validator(doc, registry=registry,
                                                       format_checker=_FORMATS)
            for name, doc in documents.items() if name != "common.json"}

    @property
    def types(self) -> list[str]:
        return sorted(self._validators)

    def check_type(self, type_name: str) -> None:
        """Raise ``SubmitError`` for a type that is not canonical, naming the closest one."""
        if type_name not in self._validators:
            hint = did_you_mean(type_name, self._validators, "Known types")
            raise SubmitError(f"Unknown message type {type_name!r}.{hint}")

    def errors(self, type_name: str, body: Any) -> str | None:
        """None if ``body`` is valid for ``type_name``, else one readable sentence."""
        validator = self._validators.get(type_name)
        if validator is None:
            return f"no schema for type {type_name!r}"
        error = next(iter(sorted(validator.iter_errors(body), key=lambda e: list(e.path))), None)
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path) or "(body)"
        return f"{where}: {error.message}"[:500]


_SCHEMAS: Schemas | None = None


def schemas() -> Schemas:
    global _SCHEMAS
    if _SCHEMAS is None:
        _SCHEMAS = Schemas()
    return _SCHEMAS
