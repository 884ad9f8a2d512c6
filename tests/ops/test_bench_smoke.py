"""Every benchmark part runs at tiny sizes and prints its table (bench/, `python -m bench
--quick`). Only that: a benchmark is never a timed test, and its figures are not checked."""

from __future__ import annotations

import pytest

from bench.__main__ import PARTS, run_part

pytestmark = [pytest.mark.rabbitmq, pytest.mark.mosquitto]


@pytest.mark.parametrize("part", list(PARTS))
def test_part_prints_its_table(part, tmp_path, capsys):
    _module, title, quick = PARTS[part]
    # Each part bounds itself (--timeout, and every wait inside is bounded).
    assert run_part(part, [*quick, "--data-dir", str(tmp_path), "--timeout", "120"]) == 0
    out = capsys.readouterr().out
    assert f"## {title}" in out
    assert "| --- |" in out, out
    assert "cores" in out and "Python" in out  # the machine heads the table
