"""Validators for adapter settings whose errors are sentences naming the key:
"poll_interval must be positive, got -1"."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationInfo, field_validator

from hub.config import parse_duration


def durations(*names: str, allow_zero: bool = False) -> Any:
    """A validator for ``names``: seconds from a number or ``500ms``/``2s``/``10m``, positive
    (or zero or more with ``allow_zero``)."""
    wanted = "zero or more" if allow_zero else "positive"

    def check(cls: type, value: Any, info: ValidationInfo) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            raise ValueError(f"{info.field_name} must be {wanted}, got {value}")
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise ValueError(f"{info.field_name}: {exc}") from None
        if seconds == 0 and not allow_zero:
            raise ValueError(f"{info.field_name} must be positive, got {value!r}")
        return seconds

    return field_validator(*names, mode="before")(check)


def integers(*names: str, minimum: int, maximum: int) -> Any:
    """A validator for whole numbers from ``minimum`` to ``maximum``."""

    def check(cls: type, value: Any, info: ValidationInfo) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{info.field_name} must be a whole number, got {value!r}")
        if not minimum <= value <= maximum:
            raise ValueError(f"{info.field_name} must be from {minimum} to {maximum}, "
                             f"got {value}")
        return value

    return field_validator(*names, mode="before")(check)
