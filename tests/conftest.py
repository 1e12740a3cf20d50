"""Test configuration: geodln first (it selects the autograd backend), then geomstats hooks."""

import random
import re

from hypothesis import settings

import geodln  # noqa: F401  (must precede any geomstats import)

# geomstats' TestData draws its batch sizes with the `random` module when geomstats.test.data is
# first imported; seed it first so every pytest-xdist worker collects the same test ids.
random.seed(0)
import geomstats.test.data  # noqa: E402, F401
from geomstats.test.conf import pytest_collection_modifyitems  # noqa: E402, F401

# Deterministic property tests: the same examples on every run and every machine.
settings.register_profile("geodln", derandomize=True)
settings.load_profile("geodln")

_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def pytest_make_parametrize_id(config, val):
    """Readable ids as geomstats makes them, but never with memory addresses.

    geomstats' hook returns ``repr(val)``; for functions and plain objects that contains
    ``at 0x…``, which differs between pytest-xdist workers and breaks their collection. Such
    values fall back to pytest's own ids (``val0``, ``val1``, …).
    """
    text = "-".join(repr(v) for v in val) if isinstance(val, tuple) else repr(val)
    if _ADDRESS.search(text):
        return None
    return text
