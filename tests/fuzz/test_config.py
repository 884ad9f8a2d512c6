"""Fuzzing the configuration loader with the annotated sample (hub/sample.yaml) mutated as
text and as a tree, and with the YAML features an operator's file may hold by accident:
anchors, tags, complex keys, special floats, dates, deep nesting, bytes that are not UTF-8.

The properties: ``load_config`` returns a configuration or raises ``ConfigError``, never
anything else; every line of the error names the file (and, where the fault has one, the
line); and a configuration that loads has durations a clock can use.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import hub
from hub.config import HubConfig, load_config
from hub.errors import ConfigError

from . import fuzz_settings
from .strategies import JSON, mutated

SAMPLE = (Path(hub.__file__).parent / "sample.yaml").read_bytes()
TREE = yaml.safe_load(SAMPLE)
DURATIONS = [("limits", "clock_skew"), ("limits", "default_ttl"), ("retry", "receipt_timeout"),
             ("retry", "maximum"), ("retry", "write_timeout"), ("retry", "reconnect_initial"),
             ("retry", "reconnect_maximum"), ("retry", "handover_initial")]

# Scalars as YAML writes them: special floats, dates, huge numbers, durations near misses.
YAML_SCALARS = st.sampled_from([
    ".nan", ".inf", "-.inf", "1e400", "0x1F", "0o17", "1_000", "2026-13-45", "2026-02-30",
    "2026-11-28 25:00:00", "2026-11-28T06:51:24Z", "~", "null", "yes", "no", "on", "'30s'",
    "30 s", "1e9d", "99999999999999999999d", "-1s", "5 m", "NaNs", "١٢s", "!!binary aGVsbG8=",
    "!!binary ?", "!!timestamp 2026-99-01", "!!int x", "!!float y", "!!python/object:os.system",
    "!!set {a, b}", "!!omap [a: 1]", "&a [*a]", "*undefined", "[1, [2, [3]]]", "{? [a, b]: 1}",
    "'\\x00'", "\"\\ud800\"", "|\n  text", "!!str", "!custom x", "<<: {a: 1}"])


def load(tmp_path: Path, text: bytes) -> HubConfig | None:
    """Load ``text`` as a file; assert that a failure is a ConfigError naming the file."""
    path = tmp_path / "porthub.yaml"
    path.write_bytes(text)
    try:
        config = load_config(path)
    except ConfigError as error:
        lines = str(error).splitlines()
        assert lines, "an empty ConfigError"
        for line in lines:
            assert line.startswith(f"{path}"), line
        return None
    durations_are_usable(config)
    return config


def durations_are_usable(config: HubConfig) -> None:
    """Every duration is a finite number of seconds that a date can be moved by."""
    now = datetime.now(timezone.utc)
    for section, key in DURATIONS:
        seconds = getattr(getattr(config, section), key)
        assert math.isfinite(seconds) and seconds >= 0, (section, key, seconds)
        now + timedelta(seconds=seconds)  # OverflowError: no message could be sent


@st.composite
def trees(draw: st.DrawFn) -> Any:
    """The sample as a tree with members replaced, removed or added, anywhere."""
    tree = yaml.safe_load(SAMPLE)
    for _ in range(draw(st.integers(1, 3))):
        node, key = tree, None
        while isinstance(node, (dict, list)) and node and draw(st.integers(0, 3)):
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            key = draw(st.sampled_from(keys))
            if not isinstance(node[key], (dict, list)):
                break
            node = node[key]
        if not isinstance(node, (dict, list)) or not node:
            continue
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = draw(st.sampled_from(keys))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "delete":
            del node[key]
        elif action == "add" and isinstance(node, dict):
            node[draw(st.sampled_from(["extra", "id", "kind", 1, "windw"]))] = draw(JSON)
        else:
            node[key] = draw(JSON | st.sampled_from([float("nan"), float("inf"), -1, 10**30,
                                                     "1e9d", "0s", True, None, [], {}]))
    return tree


@fuzz_settings()
@given(text=mutated(SAMPLE, steps=6))
def test_the_sample_mutated_as_text_loads_or_names_file_and_line(tmp_path, text):
    load(tmp_path, text)


@fuzz_settings()
@given(tree=trees())
def test_the_sample_mutated_as_a_tree_loads_or_names_file_and_line(tmp_path, tree):
    load(tmp_path, yaml.safe_dump(tree, allow_unicode=True).encode())


@fuzz_settings()
@given(data=st.data())
def test_any_yaml_scalar_in_any_value_loads_or_names_file_and_line(tmp_path, data):
    """A YAML scalar, tag or structure written where the sample has a value."""
    lines = SAMPLE.decode().splitlines()
    candidates = [i for i, line in enumerate(lines)
                  if ":" in line and not line.lstrip().startswith(("#", "-"))
                  and line.split("#")[0].rstrip().split(":", 1)[1].strip()]
    at = data.draw(st.sampled_from(candidates))
    key = lines[at].split(":", 1)[0]
    lines[at] = f"{key}: {data.draw(YAML_SCALARS | st.text(max_size=12))}"
    load(tmp_path, "\n".join(lines).encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize("text", [
    b"", b"---\n...\n", b"- a\n- b\n", b"a: 1\n---\nb: 2\n", b"\xff\xfe", b"hub: \xff\n",
    b"\xef\xbb\xbfhub: {}\n", b"hub:\n\tid: baku\n", b"? [a, b]\n: 1\n", b"{[1]: 2}",
    b"a: &x [*x]\n", b"a: " + b"[" * 1200 + b"]" * 1200, b"hub: {id: " + b"{a: " * 1200,
    b"a: 1\na: 2\n", b"hub: !!python/object/apply:os.system [true]\n", b"!!binary x",
    b"<<: *nothing\n", b"a: 2026-13-45\n", b"hub: {id: 2026-02-30}\n",
], ids=lambda text: repr(text[:24]))
def test_yaml_oddities_are_config_errors(tmp_path, text):
    assert load(tmp_path, text) is None
