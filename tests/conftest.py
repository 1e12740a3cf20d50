"""Test configuration: geodln first (it selects the autograd backend), then geomstats hooks."""

import re

import geodln  # noqa: F401, I001  (must precede any geomstats import)
from geomstats.test.conf import pytest_collection_modifyitems  # noqa: F401

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
