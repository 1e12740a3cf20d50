"""geodln: Riemannian geometry of deep linear networks.

Importing geodln selects the geomstats ``autograd`` backend (it must happen before geomstats
is first imported).
"""

from geodln._backend import select_backend

select_backend()

from geodln.metric import DLNMetric, SpectralMetric  # noqa: E402
from geodln.spaces import RankMatrices  # noqa: E402
from geodln.spectral import (  # noqa: E402
    CallableKernel,
    DLNKernel,
    EuclideanKernel,
    InfiniteDepthKernel,
    SpectralKernel,
)

__version__ = "0.1.0"

__all__ = [
    "RankMatrices",
    "DLNMetric",
    "SpectralMetric",
    "SpectralKernel",
    "DLNKernel",
    "InfiniteDepthKernel",
    "EuclideanKernel",
    "CallableKernel",
]
