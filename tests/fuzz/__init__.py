"""Property-based fuzzing of everything a peer, a connected system or an operator's file can
put in front of the hub: the receive checks, the codecs and the configuration loader.

Two hypothesis profiles: ``ci`` (the default: few examples, derandomized and without an
example database, so a run of the whole folder is short and repeatable) and ``long``
(``PORTHUB_FUZZ=long``, ``make fuzz``: many more examples, random, with the example database
in ``.hypothesis/`` so that a failure found once is tried first next time).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
           HealthCheck.function_scoped_fixture]
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          database=None, print_blob=True, suppress_health_check=_HEALTH)
settings.register_profile("long", max_examples=4000, deadline=None, print_blob=True,
                          suppress_health_check=_HEALTH)

PROFILE = os.environ.get("PORTHUB_FUZZ", "ci")
if PROFILE not in ("ci", "long"):
    raise RuntimeError(f"PORTHUB_FUZZ must be ci or long, got {PROFILE!r}")


def fuzz_settings(share: float = 1.0) -> settings:
    """The selected profile, with ``share`` of its examples for a test whose examples are
    costly (each runs a hub) or that needs fewer to cover its input space."""
    profile = settings.get_profile(PROFILE)
    return settings(profile, max_examples=max(5, int(profile.max_examples * share)))
