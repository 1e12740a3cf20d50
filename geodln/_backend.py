"""Select the geomstats autograd backend before geomstats is first imported.

geomstats reads ``GEOMSTATS_BACKEND`` once, at its first import. geodln needs the
``autograd`` backend (Euclidean gradients of user losses, the Hamiltonian geodesic solver),
so importing :mod:`geodln` sets it, and refuses to run on a geomstats that was already
imported with another backend.
"""

import os
import sys

BACKEND = "autograd"


def select_backend():
    """Set ``GEOMSTATS_BACKEND=autograd`` and check an already-imported geomstats.

    Raises
    ------
    ImportError
        If geomstats was imported before geodln with a backend other than autograd.
    """
    if "geomstats.backend" in sys.modules or "geomstats" in sys.modules:
        import geomstats.backend as gs

        current = getattr(gs, "__name__", "")
        if not current.endswith(BACKEND):
            raise ImportError(
                f"geomstats was already imported with the {current!r} backend; geodln needs "
                f"the {BACKEND!r} backend. Import geodln before geomstats, or set the "
                f"environment variable GEOMSTATS_BACKEND={BACKEND} before starting Python."
            )
        return
    requested = os.environ.get("GEOMSTATS_BACKEND")
    if requested not in (None, "", BACKEND):
        raise ImportError(
            f"GEOMSTATS_BACKEND={requested!r} is set, but geodln needs {BACKEND!r}: "
            f"unset it or set GEOMSTATS_BACKEND={BACKEND}."
        )
    os.environ["GEOMSTATS_BACKEND"] = BACKEND
