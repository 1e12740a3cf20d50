"""Backend selection: geodln needs geomstats' autograd backend (run in fresh interpreters)."""

import os
import subprocess
import sys


def run(code, **env):
    full_env = {k: v for k, v in os.environ.items() if k != "GEOMSTATS_BACKEND"}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120
    )


def test_import_selects_autograd():
    out = run("import geodln, geomstats.backend as gs; print(gs.__name__)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("autograd")


def test_geomstats_imported_first_with_numpy_backend():
    out = run("import geomstats.backend\nimport geodln", GEOMSTATS_BACKEND="numpy")
    assert out.returncode != 0
    assert "ImportError" in out.stderr
    # the message says what to do
    assert "Import geodln before geomstats" in out.stderr
    assert "GEOMSTATS_BACKEND=autograd" in out.stderr


def test_environment_requests_another_backend():
    out = run("import geodln", GEOMSTATS_BACKEND="pytorch")
    assert out.returncode != 0
    assert "ImportError" in out.stderr and "GEOMSTATS_BACKEND=autograd" in out.stderr


def test_geomstats_imported_first_with_autograd_is_fine():
    out = run("import geomstats.backend\nimport geodln\nprint('ok')", GEOMSTATS_BACKEND="autograd")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
