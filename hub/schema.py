"""The canonical message types and their JSON Schemas (hub/schemas/<type>.json)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import re

import fastjsonschema
import jsonschema
from referencing import Registry, Resource

from . import identifiers, jsontext
from .errors import SubmitError
from .names import did_you_mean

# RFC 3339 date-time, as fastjsonschema checks it but in ASCII digits (its "\d" also takes
# "٢٠٢٥"), and to the end of the text ("$" would pass a final newline). Both validators use it.
_DATE_TIME = re.compile(r"[0-9]{4}-[01][0-9]-[0-3][0-9][tT\s](?:[0-2][0-9]:[0-5][0-9]:[0-5][0-9]"
                        r"|23:59:60)(?:\.[0-9]+)?(?:[zZ]|[+-][0-9]{2}(?::?[0-9]{2})?)")
CUSTOM_FORMATS = {
    "iso6346": identifiers.is_container_number,
    "imo": identifiers.is_imo_number,
    "unlocode": identifiers.is_unlocode,
    "date-time": lambda v: not isinstance(v, str) or bool(_DATE_TIME.fullmatch(v)),
}
_FORMATS = jsonschema.FormatChecker()
for _name, _check in CUSTOM_FORMATS.items():
    _FORMATS.checks(_name)(_check)

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
        # Every message is validated up to three times (submit, receipt, receive): the
        # compiled validator answers "valid" in tens of microseconds where jsonschema takes
        # about a millisecond; jsonschema is asked only to explain a failure.
        by_id = {doc["$id"]: doc for doc in documents.values()}
        self._fast = {
            type_name: fastjsonschema.compile(
                validator.schema, handlers={"https": by_id.__getitem__},
                formats=CUSTOM_FORMATS)
            for type_name, validator in self._validators.items()}

    @property
    def types(self) -> list[str]:
        return sorted(self._validators)

    def check_type(self, type_name: str) -> None:
        """Raise ``SubmitError`` for a type that is not canonical, naming the closest one."""
        if type_name not in self._validators:
            hint = did_you_mean(type_name, self._validators, "Known types")
            raise SubmitError(f"Unknown message type {type_name!r}.{hint}")

    def errors(self, type_name: str, body: Any, parsed: bool = False) -> str | None:
        """None if ``body`` is valid for ``type_name``, else one readable sentence.
        ``parsed``: the body was read by ``jsontext.loads`` (or ``jws.strict_json``), so it
        is JSON text already and is not walked again to see."""
        validator = self._validators.get(type_name)
        if validator is None:
            return f"no schema for type {type_name!r}"
        # JSON Schema compares NaN with nothing, so it passes every bound; a body that is not
        # JSON text could be signed, but no peer could read it (or the store take it).
        not_json = None if parsed else jsontext.problem(body)
        if not_json:
            return f"(body): {not_json}"
        try:
            self._fast[type_name](body)
            return None
        except fastjsonschema.JsonSchemaException as exc:
            fast_error = exc.message
        error = next(iter(sorted(validator.iter_errors(body), key=lambda e: list(e.path))), None)
        if error is None:  # the two disagree (should not happen): the stricter one wins
            return fast_error[:500]
        where = "/".join(str(p) for p in error.absolute_path) or "(body)"
        return f"{where}: {error.message}"[:500]


_SCHEMAS: Schemas | None = None


def schemas() -> Schemas:
    global _SCHEMAS
    if _SCHEMAS is None:
        _SCHEMAS = Schemas()
    return _SCHEMAS
