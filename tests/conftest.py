"""Test configuration: geodln first (it selects the autograd backend), then geomstats hooks."""

import geodln  # noqa: F401, I001  (must precede any geomstats import)
from geomstats.test.conf import (  # noqa: F401
    pytest_collection_modifyitems,
    pytest_make_parametrize_id,
)
