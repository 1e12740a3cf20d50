"""geodln: Riemannian geometry of deep linear networks.

Importing geodln selects the geomstats ``autograd`` backend (it must happen before geomstats
is first imported).
"""

from geodln._backend import select_backend

select_backend()

from geodln import init, losses, measures  # noqa: E402
from geodln.bundle import DLNBundle  # noqa: E402
from geodln.entropy import (  # noqa: E402
    entropy,
    entropy_gradient,
    free_energy,
    log_orbit_volume,
    log_orthogonal_group_volume,
)
from geodln.flows import (  # noqa: E402
    At,
    Every,
    FlowComparison,
    Solver,
    StoppingRules,
    Trajectory,
    compare_flows,
    downstairs_flow,
    gradient_descent,
    upstairs_flow,
)
from geodln.losses import (  # noqa: E402
    AutogradLoss,
    LeastSquares,
    MatrixCompletion,
    MatrixSensing,
)
from geodln.metric import DLNMetric, SpectralMetric  # noqa: E402
from geodln.spaces import BalancedManifold, RankMatrices  # noqa: E402
from geodln.spectral import (  # noqa: E402
    CallableKernel,
    DLNKernel,
    EuclideanKernel,
    InfiniteDepthKernel,
    SpectralKernel,
)
from geodln.volume import log_volume_density, log_volume_form  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "RankMatrices",
    "BalancedManifold",
    "DLNBundle",
    "DLNMetric",
    "SpectralMetric",
    "SpectralKernel",
    "DLNKernel",
    "InfiniteDepthKernel",
    "EuclideanKernel",
    "CallableKernel",
    "MatrixCompletion",
    "MatrixSensing",
    "AutogradLoss",
    "LeastSquares",
    "downstairs_flow",
    "upstairs_flow",
    "gradient_descent",
    "compare_flows",
    "FlowComparison",
    "Trajectory",
    "StoppingRules",
    "Solver",
    "Every",
    "At",
    "init",
    "losses",
    "measures",
    "log_volume_density",
    "log_volume_form",
    "log_orbit_volume",
    "entropy",
    "entropy_gradient",
    "free_energy",
    "log_orthogonal_group_volume",
]
