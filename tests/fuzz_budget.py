"""How many examples each fuzz target runs: a small fixed budget in ``make test``, more in ``make fuzz``.

``make test`` runs every target derandomized (the same inputs each run, no example database), so
the suite stays deterministic and the whole fuzz set takes a few seconds. ``make fuzz`` sets
``CLANK_FUZZ_EXAMPLES`` and runs random inputs, as many per target as it says.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_ENV = "CLANK_FUZZ_EXAMPLES"


def long_run() -> bool:
    return bool(os.environ.get(_ENV))


def examples(quick: int) -> int:
    """``quick`` examples in ``make test``; ``CLANK_FUZZ_EXAMPLES`` (if set) in ``make fuzz``."""
    raw = os.environ.get(_ENV, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else quick


def fuzz(quick: int) -> settings:
    """Hypothesis settings for one fuzz target."""
    return settings(
        max_examples=examples(quick),
        deadline=None,
        derandomize=not long_run(),
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
