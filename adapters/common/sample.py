"""Each adapter's annotated sample configuration, made from its config model: the same
declaration validates a configuration, documents it and produces the sample.

``python -m adapters.common.sample KIND > adapters/KIND/sample.yaml`` writes it; a test checks
that every committed sample is what its model makes and that it validates.
"""

from __future__ import annotations

import sys
import textwrap
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from hub.secrets import SecretRef

WIDTH = 92


def render(kind: str) -> str:
    """The sample of the adapter registered as ``kind``."""
    from hub.plugins import adapter_class

    model = adapter_class(kind).config_model
    values = getattr(model, "sample_values", {})
    lines = [f"# The {kind} adapter: an annotated sample, made from its config model by",
             f"#   python -m adapters.common.sample {kind}",
             "# It goes under `adapters:` in a hub's configuration; the adapter's README.md",
             "# explains each setting. Commented-out settings are alternatives.",
             "adapters:", f"  {kind}:", f"    kind: {kind}"]
    lines += _fields(model, values, "    ")
    return "\n".join(lines) + "\n"


def _fields(model: type[BaseModel], values: dict[str, Any], indent: str) -> list[str]:
    lines: list[str] = []
    for name, field in model.model_fields.items():
        if name == "kind":
            continue
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        block = [indent + "# " + line for line in
                 textwrap.wrap(field.description or "", WIDTH - len(indent) - 2)]
        nested = _model_of(field.annotation)
        if name in values:
            block += _value(name, values[name], indent)
        elif field.examples:
            block += _value(name, field.examples[0], indent)
        elif nested is not None and extra.get("sample") != "commented":
            block += [f"{indent}{name}:"] + _fields(nested, {}, indent + "  ")
        else:
            default = field.get_default(call_default_factory=True)
            block += _value(name, None if default is PydanticUndefined else default, indent)
        if extra.get("sample") == "commented":  # an alternative: shown, not in force
            block = [line if line.lstrip().startswith("#") else
                     f"{indent}# {line[len(indent):]}" for line in block]
        lines += block
    return lines


def _value(name: str, value: Any, indent: str) -> list[str]:
    text = yaml.safe_dump({name: _plain(value)}, sort_keys=False, width=1000,
                          default_flow_style=False, allow_unicode=True)
    return [indent + line for line in text.splitlines()]


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_none=True)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The settings model inside ``X`` or ``X | None`` (not a secret reference)."""
    candidates = typing.get_args(annotation) if isinstance(
        annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union \
        else (annotation,)
    for c in candidates:
        if isinstance(c, type) and issubclass(c, BaseModel) and c is not SecretRef:
            return c
    return None


if __name__ == "__main__":
    sys.stdout.write(render(sys.argv[1]))
