"""Configuration errors name the file, the line and the key."""

from __future__ import annotations

import pytest

from hub.config import load_config, parse_duration
from hub.errors import ConfigError

GOOD = """\
hub:
  id: baku
  data_dir: /var/lib/porthub
  key: /etc/porthub/baku.key
  cert: /etc/porthub/baku.crt
  ca: /etc/porthub/ca.crt
inbox: {kind: memory}
peers:
  aktau:
    transport: {kind: memory}
    may_send: ["vessel.*"]
routes:
  - {type: "customs.*", to: aktau}
retry:
  receipt_timeout: 5s
"""


def write(tmp_path, text):
    path = tmp_path / "porthub.yaml"
    path.write_text(text)
    return path


def test_good_config_loads(tmp_path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.hub.id == "baku" and config.retry.receipt_timeout == 5.0
    assert config.routes[0].to == ["aktau"] and config.peers["aktau"].transport.kind == "memory"


@pytest.mark.parametrize("change, expected", [
    (("  receipt_timeout: 5s", "  recipt_timeout: 5s"), ":15: retry.recipt_timeout: unknown key"),
    (("  receipt_timeout: 5s", "  receipt_timeout: soon"), ":15: retry.receipt_timeout: not a duration"),
    (("    transport: {kind: memory}", "    transport: {kind: amqq}"), "Did you mean 'amqp'?"),
    (("  id: baku", "  id: Baku!"), ":2: hub.id: a hub id is"),
    (("{type: \"customs.*\", to: aktau}", "{type: \"customs.*\", to: samsun}"),
     "not among the peers"),
    (("inbox: {kind: memory}", "inbox: {kind: memory, broker: [1]}"), ":7: inbox.broker"),
    (("retry:", "retry:\nretry:"), "duplicate key 'retry'"),
    (("hub:", "hub: ["), "not valid YAML"),
])
def test_bad_config_is_reported_with_file_line_and_key(tmp_path, change, expected) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_unreadable_config_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("text, seconds", [("500ms", 0.5), ("30s", 30), ("10m", 600),
                                           ("2h", 7200), ("7d", 604800), (12, 12)])
def test_durations(text, seconds) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("raw, expected", [
    (b"hub:\n  id: \xff\n", ":2: not UTF-8 text: byte 11 is invalid"),
    (b"hub:\n  id: a\x00b\n", ":2: not valid YAML: special characters are not allowed"),
    (b"peers:\n  ? [a, b]\n  : 1\n", ":2: not valid YAML: a key must be a plain value"),
    (b"hub:\n  id: 2026-13-45\n", ":2: not valid YAML: month must be in 1..12 ('2026-13-45')"),
    (b"retry:\n  window: !!int x\n", ":2: not valid YAML: invalid literal for int()"),
    (b"routes: " + b"[" * 1200 + b"]" * 1200, ": not valid YAML: nested too deeply"),
])
def test_yaml_that_pyyaml_lets_out_as_another_exception_is_a_config_error(tmp_path, raw,
                                                                          expected) -> None:
    """Found by fuzzing: each of these escaped load_config as UnicodeDecodeError,
    ReaderError, TypeError, ValueError or RecursionError instead of a ConfigError."""
    path = tmp_path / "porthub.yaml"
    path.write_bytes(raw)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}{expected}")


def test_a_key_with_a_control_character_is_shown_quoted_on_its_one_line(tmp_path) -> None:
    path = write(tmp_path, GOOD.replace("  id: baku", "  id: baku\n  \"a\\x1eb\": 1"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}:3: hub.'a\\x1eb': unknown key" in str(info.value).splitlines()


@pytest.mark.parametrize("value, message", [
    (float("nan"), "not NaN"), (float("inf"), "at most 3650d"), (10**30, "at most 3650d"),
    ("99999999999999999999d", "at most 3650d"), ("\u0661\u0662s", "not a duration"),
])
def test_a_duration_a_clock_cannot_use_is_refused(value, message) -> None:
    """Found by fuzzing: clock_skew .nan loaded (and NaN compares false, so the clock-skew
    check never fired); default_ttl .inf or 1e30 loaded and every submit then raised
    OverflowError. Digits are ASCII digits."""
    with pytest.raises(ValueError, match=message):
        parse_duration(value)


def test_clock_skew_nan_in_a_file_is_a_config_error(tmp_path) -> None:
    path = write(tmp_path, GOOD + "limits: {clock_skew: .nan}\n")
    with pytest.raises(ConfigError, match=r":16: limits.clock_skew: a duration must be"):
        load_config(path)


@pytest.mark.parametrize("adapter, expected", [
    ('"customs\\n": {kind: filedrop}', "adapter name 'customs\\n'"),
    ("out: {kind: sql, dsn: 'sqlite:///tmp/x.db', inbox_table: \"inbox\\n\"}",
     "a table name is letters, digits and '_'"),
])
def test_a_name_with_a_trailing_newline_is_refused(tmp_path, adapter, expected) -> None:
    """An adapter name and an SQL table name ended in a newline passed their patterns ("$"
    matches before a final newline); the same trap the fuzzer found in the JWS parser."""
    path = write(tmp_path, GOOD + f"adapters:\n  {adapter}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value)
