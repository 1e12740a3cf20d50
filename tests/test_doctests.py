"""Run the ``Examples`` sections of every docstring in ``geodln`` as doctests.

One test per docstring that has examples (module, class, function or method), found with
:class:`doctest.DocTestFinder` on every importable module of the package (``geodln.__main__``
excepted: importing it runs the command line). ``np`` (numpy) and ``geodln`` are in the
namespace of every example, as numpydoc assumes; output is compared with ``ELLIPSIS`` and
``NORMALIZE_WHITESPACE``. Examples must be fast (well under a second) and deterministic (fixed
seeds).
"""

import doctest
import importlib
import io
import pkgutil

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import geodln  # noqa: E402

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules():
    names = ["geodln"]
    for info in pkgutil.walk_packages(geodln.__path__, prefix="geodln."):
        if info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return sorted(names)


def _doctests():
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = {}
    for name in _modules():
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            if test.examples and test.name not in tests:
                tests[test.name] = test
    return tests


DOCTESTS = _doctests()


def test_some_examples_exist():
    assert len(DOCTESTS) >= 300  # 371 when written; the policy requires one per public object


@pytest.mark.parametrize("name", sorted(DOCTESTS))
def test_docstring_examples(name):
    test = DOCTESTS[name]
    test.globs = dict(test.globs, np=np, geodln=geodln)
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    with np.printoptions(legacy=False):
        result = runner.run(test, out=out.write, clear_globs=True)
    assert result.failed == 0, out.getvalue()
