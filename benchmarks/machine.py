"""Describe the machine a benchmark ran on (recorded next to every result)."""

import os
import platform


def describe():
    """Return a dict: CPU model, cores, Python/numpy/scipy versions, BLAS, OpenBLAS env."""
    import numpy as np
    import scipy

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas = "unknown"
    try:
        from threadpoolctl import threadpool_info

        info = [f"{d.get('internal_api')} {d.get('version')} ({d.get('architecture')}, "
                f"{d.get('num_threads')} threads)" for d in threadpool_info()
                if d.get("user_api") == "blas"]
        blas = "; ".join(info) or blas
    except ImportError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "blas": blas,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", ""),
    }


def summary_line():
    """One-line description for printed tables."""
    d = describe()
    return (f"{d['cpu']}, {d['cores']} cores, Python {d['python']}, numpy {d['numpy']}, "
            f"scipy {d['scipy']}, BLAS {d['blas']}")
