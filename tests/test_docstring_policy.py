"""Docstring policy of geodln, checked mechanically on the source (no import, no execution).

The rules (issue 17; each is one test below, each failure names ``module:object`` and the rule):

1. **No pointers outside the repository.** No docstring anywhere in ``geodln/`` (modules,
   classes, functions, methods, private ones included) mentions ``reference §``,
   ``dln-geometry``, ``design.md``, ``geomstats-notes``, "our reference", or a filesystem
   path outside the repository
   (``/work/``, ``/home/``, ``/tmp/``, ``/usr/``, ``/opt/``, ``/mnt/``, ``/root/``, ``~/``, a
   Windows drive). Papers are cited by their key in ``docs/references.bib`` instead.
2. **Citations resolve.** Every entry ``.. [n] ...`` of a ``References`` section starts with a
   key of ``docs/references.bib`` and a colon (``.. [1] CMV23: Cohen, Menon, Veraszto, ...``),
   and every ``References`` section has at least one entry.
3. **Abbreviations are expanded.** If any docstring of a module uses a paper abbreviation as a
   word (ACH, ACGH, ACHL, BRTW, RC, CMV, GM, MY), the *module* docstring names every author of
   that paper (e.g. CMV → Cohen, Menon, Veraszto).
4. **Raises.** A *public object* whose own body raises ``ValueError`` (a ``raise ValueError``
   statement, or a call of a validator imported from ``geodln._checks``, which all raise
   ``ValueError``) documents it: its docstring has a numpydoc ``Raises`` section that names
   ``ValueError``. For a class the body inspected is that of ``__init__``, ``__new__`` and
   ``__post_init__`` and the section goes in the class docstring (numpydoc convention). Public
   methods of public classes follow the same rule with their own body.
5. **References with a locator.** Every public module-level function and class of a *math
   module* (the modules that implement formulas: ``MATH_MODULES`` below) has a ``References``
   section, except the objects listed one by one in ``NOT_FORMULAS`` (validators, containers,
   abstract bases); and every entry of a ``References`` section of a public object of a math
   module (``NOT_FORMULAS`` excepted) names *where* in the work the formula is: an equation,
   theorem, lemma, proposition, corollary, definition, algorithm, procedure, section, chapter,
   appendix, figure or table number, or the abstract when only the abstract states the claim
   (``LOCATOR`` below), so a reader can follow the formula to the paper's text.
6. **Examples.** Every public function and class of every public module (see below; the
   objects of ``EXAMPLES_EXEMPT_OBJECTS`` excepted, each with its reason: the entry points
   that run a whole experiment or one training run) and every object
   exported at the top level (``geodln.__all__``) has an ``Examples`` section with at least one
   ``>>>`` line; the examples themselves run as doctests in ``tests/test_doctests.py``.
7. **Parameters and Returns.** Every public function of a public module whose signature has
   parameters has a ``Parameters`` section, and one that
   returns a value (a ``return <value>`` statement in its own body) has a ``Returns`` (or
   ``Yields``) section; a public class whose constructor takes arguments (an ``__init__`` with
   parameters, or the fields of a dataclass) documents them in a ``Parameters`` or
   ``Attributes`` section. Where such a section exists, it names every parameter of the
   signature (``*args`` and ``**kwargs`` included; ``self``/``cls`` excepted), and every entry
   typed as an array (``ndarray``, ``array-like``) states its shape: ``shape=[..., m, n]``, a
   bracketed shape, "broadcast" or "any shape", in its type or its description.
8. **No escape accidents.** No docstring contains a tab, form feed, backspace, bell, vertical
   tab or carriage return: in a non-raw docstring ``\\tfrac``, ``\\frac`` or ``\\beta`` silently
   become such characters and garble the rendered formula.
9. **Each section once.** No numpydoc section title appears twice in one docstring (numpydoc
   refuses such a docstring; it happens when two edits of the same docstring are merged).
10. **Citation record.** Every (key, locator) cited in a ``References`` entry anywhere in
    ``geodln/`` has a row in ``docs/citation_status.csv`` saying whether that locator was checked
    against the paper's text (``verified``, ``partial``, ``secondary``) with the source address
    and the words matched, or why not (``unverified``); the documentation's citations page is
    built from that record (``docs/citations.py``).

Known gaps: ``KNOWN_GAPS`` lists, by rule and module, the modules that do not yet meet a rule
because their owner is rewriting them. Their tests are expected failures (``xfail``) and pass
again as soon as the module is fixed; the list is reported with every run (``-ra``) and must be
empty for the policy to be met.

*Public object*: a module is public when no component of its dotted name starts with ``_``
(``__init__`` excepted). Its public objects are the module-level functions and classes named in
its ``__all__`` when it defines one, otherwise those whose names do not start with ``_``. Public
methods are functions defined in the body of a public class whose names do not start with
``_``. Only nested code of the object itself is inspected (not nested function definitions).
"""

import ast
import functools
import importlib.util
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "geodln"
DOCS = ROOT / "docs"
BIB = DOCS / "references.bib"

#: Modules that implement formulas of a paper: their public functions and classes need a
#: ``References`` section (rule 5). Infrastructure (files, command line, ensembles, plotting,
#: containers of results, stopping rules, experiment scaffolding) is not listed.
MATH_MODULES = {
    "geodln.spectral",
    "geodln.svd_frame",
    "geodln.matrix_power",
    "geodln.metric",
    "geodln.volume",
    "geodln.entropy",
    "geodln.measures",
    "geodln.bundle",
    "geodln.factors",
    "geodln.init",
    "geodln.losses",
    "geodln.discretisation",
    "geodln.spaces.rank_matrices",
    "geodln.spaces.balanced",
    "geodln.flows.fields",
    "geodln.flows.gradient_flow",
    "geodln.flows.descent",
    "geodln.flows.compare",
    "geodln.geodesics.operators",
    "geodln.geodesics.power_family",
    "geodln.geodesics.hamiltonian_exp",
    "geodln.geodesics.root_log",
    "geodln.langevin.riemannian",
    "geodln.langevin.root_chart",
    "geodln.langevin.entries",
    "geodln.langevin.singular_values",
    "geodln.langevin.factors",
    "geodln.langevin.balanced_chart",
    "geodln.lowrank.point",
    "geodln.lowrank.tangent",
    "geodln.lowrank.cometric",
    "geodln.lowrank.flow",
    "geodln.lowrank.upstairs",
    "geodln.lowrank.retraction",
    "geodln.lowrank.descent",
    "geodln.lowrank.completion",
    "geodln.lowrank.sensing",
    "geodln.baselines.nuclear_norm",
    "geodln.baselines.soft_impute",
    "geodln.convergence.coupling",
    "geodln.convergence.curl",
    "geodln.convergence.end_to_end",
    "geodln.convergence.guarantees",
    "geodln.convergence.lp_regression",
    "geodln.convergence.mode_dynamics",
    "geodln.geodesics.newton_log",
    "geodln.geodesics.power_sum_field",
    "geodln.step_size",
}

#: Where in a cited work the formula is: ``Eq. (3.13)``, ``Theorem 1``, ``Lemma 2.4``,
#: ``Section 4``, ``§5``, ``Procedure 1``, ``Appendix B``, ``Chapter 5``, ``Fig. 4``, ...
LOCATOR = re.compile(
    r"(\b(Eqs?\.|Equations?|Theorems?|Thm\.|Lemmas?|Propositions?|Prop\.|Corollary|Cor\."
    r"|Definitions?|Def\.|Algorithms?|Alg\.|Procedures?|Sections?|Sect?\.|Chapters?|Ch\."
    r"|Appendix|App\.|Figures?|Figs?\.|Tables?|Remarks?|problem)|§)"
    r"\s*\(?([A-Z]\.?\d|\d|[IVX]+\.\d|[A-F]\b)"
    r"|\b[Aa]bstract\b",  # a claim only the abstract states (the paper's text unavailable)
)

#: Modules whose public objects need no ``Examples`` section (rules 6 and 7). None: every
#: public module, the experiments included, is held to the rules.
EXAMPLES_EXEMPT = ()

_RUN = "runs a paper's whole protocol (seconds to hours, writes files; `geodln reproduce`)"
_TRAIN = "trains one configuration of an experiment (seconds to minutes per call)"

#: Single public objects whose example would run a whole experiment or a training run (rule 6
#: only), each with its reason. Their building blocks (problems, initialisations, losses,
#: analysis of outcomes) have runnable examples.
EXAMPLES_EXEMPT_OBJECTS = {
    "geodln.discretisation.run": "the whole discretisation experiment (about 30 s, writes "
    "files); its steps final_point_deviation, outcome_deviation, corner_fraction and "
    "loglog_slope have runnable examples",
    **{f"geodln.experiments.{m}.run": _RUN for m in (
        "acgh", "ach_lp", "achl", "achl_at_scale", "coupling", "diag3", "hyperbola",
        "inpainting", "movielens", "prototype_metrics", "razin_cohen", "saxe")},
    "geodln.experiments.reproduce.run_experiment": _RUN,
    "geodln.experiments.achl.train_depth": _TRAIN,
    "geodln.experiments.achl_at_scale.train": _TRAIN,
    "geodln.experiments.achl_at_scale.summarize": "reads the finished runs of an experiment "
    "folder written by run",
    "geodln.experiments.depth_study.train_depth": _TRAIN,
    "geodln.experiments.depth_study.soft_impute_baseline": _TRAIN,
    "geodln.experiments.depth_study.compare_depths": _TRAIN,
    "geodln.experiments.depth_study.validation_figure": "plots the rows of compare_depths",
    "geodln.experiments.depth_study.save_study": "writes the rows of compare_depths",
    "geodln.experiments.depth_study.replot_study": "redraws the files save_study wrote "
    "(tested in tests/test_experiments_realdata.py)",
    "geodln.experiments.diag3.analyse_surface": "analyses an ensemble of trained outcomes",
    "geodln.experiments.diag3.analyse": "analyses an ensemble of trained outcomes",
    "geodln.experiments.hyperbola.volume_correlations": "analyses an ensemble of trained "
    "outcomes",
    "geodln.experiments.prototype_metrics.run_metric": _TRAIN,
    "geodln.experiments.saxe.aligned_part": _TRAIN,
    "geodln.experiments.saxe.digits_part": _TRAIN,
    "geodln.experiments.coupling.scale_sweep": _TRAIN,
}

#: Public objects of math modules that implement no formula of a paper (validators, containers,
#: abstract bases, plain linear algebra); rule 5 does not apply to them. Listed one by one.
NOT_FORMULAS = {
    "geodln.geodesics.hamiltonian_exp.broadcast_flat",
    "geodln.measures.frobenius_norm_from_singular_values",
    "geodln.spectral.log_ratio",
    "geodln.factors.check_factors",
    "geodln.factors.check_widths",
    "geodln.factors.widths_of",
    "geodln.flows.compare.numerical_rank",
    "geodln.flows.fields.VectorField",
    "geodln.flows.gradient_flow.as_loss",
    "geodln.flows.gradient_flow.check_on_rank",
    "geodln.discretisation.loglog_slope",
    "geodln.init.scaled_identity",
    "geodln.init.from_factors",
    "geodln.losses.Loss",
    "geodln.losses.AutogradLoss",
    "geodln.lowrank.completion.sample_distinct_indices",
    "geodln.lowrank.point.orthonormality_defect",
    "geodln.lowrank.retraction.frobenius_norm_of_product",
    "geodln.measures.singular_values",
    "geodln.measures.frobenius_norm",
    "geodln.measures.nuclear_norm",
    "geodln.volume.resolve_kernel",
    "geodln.baselines.nuclear_norm.cvxpy_available",
    "geodln.baselines.soft_impute.SoftImputePath",
    "geodln.convergence.guarantees.ACGHConditions",
    "geodln.geodesics.newton_log.check_connected",
    "geodln.step_size.gradient_lipschitz_constant",
    "geodln.langevin.root_chart.svd",
    "geodln.lowrank.retraction.finite_members",
}

#: Paper abbreviations used in prose and the surnames that must appear in the module docstring.
ABBREVIATIONS = {
    "ACH": ("Arora", "Cohen", "Hazan"),
    "ACGH": ("Arora", "Cohen", "Golowich", "Hu"),
    "ACHL": ("Arora", "Cohen", "Hu", "Luo"),
    "BRTW": ("Bah", "Rauhut", "Terstiege", "Westdickenberg"),
    "RC": ("Razin", "Cohen"),
    "CMV": ("Cohen", "Menon", "Veraszto"),
    "GM": ("Menon",),
    "MY": ("Menon", "Yu"),
}

FORBIDDEN = [
    (re.compile(r"reference\s*§", re.IGNORECASE), "cites 'reference §' (a file outside the repo)"),
    (re.compile(r"dln-geometry", re.IGNORECASE), "mentions dln-geometry (a file outside the repo)"),
    (re.compile(r"design\.md", re.IGNORECASE), "mentions design.md (a file outside the repo)"),
    (re.compile(r"geomstats-notes", re.IGNORECASE), "mentions geomstats-notes (outside the repo)"),
    (re.compile(r"\bour reference\b", re.IGNORECASE), "points to 'our reference' notes"),
    (
        re.compile(r"(?<![\w.])(/work/|/home/|/tmp/|/usr/|/opt/|/mnt/|/root/|~/|[A-Za-z]:\\)"),
        "names a path outside the repository",
    ),
]

#: (rule, module) -> why it is not met yet. Keep this explicit; never widen a rule instead.
#: Remove an entry as soon as its module is fixed (the test passes either way).
KNOWN_GAPS = {}


def _report(rule, module, bad):
    """Fail with the violations, or xfail when the module is a listed known gap."""
    if not bad:
        return
    if (rule, module) in KNOWN_GAPS:
        pytest.xfail(f"known gap ({KNOWN_GAPS[(rule, module)]}): {len(bad)} violation(s)")
    pytest.fail("\n".join(bad), pytrace=False)


ENTRY = re.compile(r"^\.\. \[[^\]]+\][ \t]*(.*)$", re.MULTILINE)
KEY_START = re.compile(r"([A-Z]{2,5}\d{2}):")
SECTION = re.compile(r"^[ \t]*(\w[\w ]*)[ \t]*\n[ \t]*-{3,}[ \t]*$", re.MULTILINE)


def _module_name(path):
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_public_module(name):
    return not any(part.startswith("_") for part in name.split("."))


def _sources():
    return sorted(PACKAGE.rglob("*.py"))


SOURCES = {_module_name(p): p for p in _sources()}
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in SOURCES.items()}


def _sections(doc):
    """Map numpydoc section title -> section text."""
    out = {}
    matches = list(SECTION.finditer(doc))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(doc)
        out[match.group(1).strip()] = doc[match.end():end]
    return out


def _all_docstrings(tree, module):
    """Yield (qualified name, docstring) for the module and every def/class in it."""
    doc = ast.get_docstring(tree, clean=True)
    if doc:
        yield module, doc

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}.{child.name}"
                d = ast.get_docstring(child, clean=True)
                if d:
                    yield name, d
                yield from visit(child, name)

    yield from visit(tree, module)


def _literal_all(tree):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            try:
                return set(ast.literal_eval(node.value))
            except ValueError:
                return None
    return None


def _public_objects(tree):
    """Module-level functions and classes that are public (see the module docstring)."""
    names = _literal_all(tree)
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        public = node.name in names if names is not None else not node.name.startswith("_")
        if public:
            yield node


def _check_names(tree):
    """Names bound in this module to validators of ``geodln._checks``."""
    names, modules = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "geodln._checks":
            names.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "geodln":
            modules.update(a.asname or a.name for a in node.names if a.name == "_checks")
        elif isinstance(node, ast.Import):
            modules.update(a.asname or a.name for a in node.names if a.name == "geodln._checks")
    return names, modules


def _own_nodes(func):
    """Nodes of a function body, not descending into nested functions, classes or lambdas."""
    stack = list(func.body)
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
            ):
                stack.append(child)


def _raises_value_error(func, checks):
    names, modules = checks
    for node in _own_nodes(func):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "ValueError":
                return True
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in names:
                return True
            if (
                isinstance(f, ast.Attribute)
                and isinstance(f.value, ast.Name)
                and f.value.id in modules
            ):
                return True
    return False


def _documents_value_error(doc):
    raises = _sections(doc or "").get("Raises")
    return raises is not None and "ValueError" in raises


@functools.lru_cache
def _bib_keys():
    return set(re.findall(r"^@\w+\{([^,\s]+),", BIB.read_text(encoding="utf-8"), re.MULTILINE))


def _ascii(text):
    """Strip accents (Verasztó -> Veraszto); other non-ASCII characters become spaces."""
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return "".join(c if c.isascii() else " " for c in text)


PUBLIC_MODULES = sorted(m for m in TREES if _is_public_module(m))


def test_policy_sees_the_package():
    assert len(SOURCES) > 40
    assert "geodln.metric" in PUBLIC_MODULES
    assert MATH_MODULES <= set(PUBLIC_MODULES), sorted(MATH_MODULES - set(PUBLIC_MODULES))


def test_bibliography_has_the_agreed_keys():
    keys = _bib_keys()
    agreed = {
        "ACH18", "ACGH19", "ACHL19", "BRTW21", "RC20", "CMV23", "GM24", "MY25", "GEO25",
        "BAL25", "SMG14", "SY26", "RV07", "MHT10", "HK15", "VAN13", "AMS08", "BJL19", "HIG08",
        "DP80", "HW96",
    }
    assert agreed <= keys, sorted(agreed - keys)


@pytest.mark.parametrize("module", sorted(TREES))
def test_no_pointer_outside_the_repository(module):
    bad = [
        f"{name}: {why}"
        for name, doc in _all_docstrings(TREES[module], module)
        for pattern, why in FORBIDDEN
        if pattern.search(doc)
    ]
    _report("pointers", module, bad)


@pytest.mark.parametrize("module", sorted(TREES))
def test_references_cite_bibliography_keys(module):
    keys = _bib_keys()
    bad = []
    for name, doc in _all_docstrings(TREES[module], module):
        refs = _sections(doc).get("References")
        if refs is None:
            continue
        entries = ENTRY.findall(refs)
        if not entries:
            bad.append(f"{name}: References section has no '.. [n]' entry")
        for entry in entries:
            key = KEY_START.match(entry)
            if key is None:
                bad.append(f"{name}: reference does not start with 'KEY:' ({entry[:40]!r})")
            elif key.group(1) not in keys:
                bad.append(f"{name}: unknown bibliography key {key.group(1)}")
    _report("citations", module, bad)


@pytest.mark.parametrize("module", sorted(TREES))
def test_abbreviations_expanded_in_module_docstring(module):
    tree = TREES[module]
    head = _ascii(ast.get_docstring(tree, clean=True) or "")
    used = set()
    for _, doc in _all_docstrings(tree, module):
        used.update(a for a in ABBREVIATIONS if re.search(rf"\b{a}\b", doc))
    bad = []
    for abbr in sorted(used):
        missing = [s for s in ABBREVIATIONS[abbr] if not re.search(rf"\b{s}\b", head)]
        if missing:
            bad.append(f"{module}: uses {abbr} but the module docstring does not name {missing}")
    _report("abbreviations", module, bad)


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_raises_documented_where_input_is_validated(module):
    tree = TREES[module]
    checks = _check_names(tree)
    bad = []
    for obj in _public_objects(tree):
        doc = ast.get_docstring(obj, clean=True)
        if isinstance(obj, ast.ClassDef):
            inits = [
                n for n in obj.body
                if isinstance(n, ast.FunctionDef)
                and n.name in ("__init__", "__new__", "__post_init__")
            ]
            if any(_raises_value_error(f, checks) for f in inits) and not _documents_value_error(
                doc
            ):
                bad.append(f"{module}.{obj.name}: constructor raises ValueError, no Raises section")
            for meth in obj.body:
                if (
                    isinstance(meth, ast.FunctionDef)
                    and not meth.name.startswith("_")
                    and _raises_value_error(meth, checks)
                    and not _documents_value_error(ast.get_docstring(meth, clean=True))
                ):
                    bad.append(f"{module}.{obj.name}.{meth.name}: raises ValueError, no Raises")
        elif _raises_value_error(obj, checks) and not _documents_value_error(doc):
            bad.append(f"{module}.{obj.name}: raises ValueError, no Raises section")
    _report("raises", module, bad)


@pytest.mark.parametrize("module", sorted(MATH_MODULES))
def test_references_on_math_objects(module):
    bad = [
        f"{module}.{obj.name}: implements a formula, no References section"
        for obj in _public_objects(TREES[module])
        if f"{module}.{obj.name}" not in NOT_FORMULAS
        and "References" not in _sections(ast.get_docstring(obj, clean=True) or "")
    ]
    _report("references", module, bad)


def _top_level_exports():
    """(module, name) of every function/class in ``geodln.__all__``, found by source."""
    tree = TREES["geodln"]
    exported = _literal_all(tree) or set()
    origin = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("geodln."):
            for alias in node.names:
                origin[alias.asname or alias.name] = (node.module, alias.name)
    out = []
    for name in sorted(exported):
        if name not in origin:
            continue  # a submodule (geodln.init, ...)
        module, real = origin[name]
        if module not in TREES:  # a package: follow its own re-export
            continue
        out.append((module, real))
    return out


def _find_def(module, name):
    tree = TREES.get(module)
    if tree is None:
        return None, None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == name:
            return module, node
    for node in tree.body:  # re-exported by a package __init__
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return _find_def(node.module, alias.name)
    return None, None


@pytest.mark.parametrize("export", [f"{m}:{n}" for m, n in _top_level_exports()] or ["none"])
def test_top_level_api_has_examples(export):
    if export == "none":
        pytest.skip("no top-level exports found")
    module, name = export.split(":")
    where, node = _find_def(module, name)
    assert node is not None, f"cannot find the definition of {export}"
    doc = ast.get_docstring(node, clean=True) or ""
    examples = _sections(doc).get("Examples", "")
    bad = [] if ">>>" in examples else [f"{where}.{name}: no Examples section with '>>>' lines"]
    _report("examples", module, bad)


def _exempt_from_examples(module):
    return any(module == m or module.startswith(m + ".") for m in EXAMPLES_EXEMPT)


EXAMPLE_MODULES = [m for m in PUBLIC_MODULES if not _exempt_from_examples(m)]


@pytest.mark.parametrize("module", sorted(MATH_MODULES))
def test_reference_entries_name_a_locator(module):
    bad = []
    for obj in _public_objects(TREES[module]):
        if f"{module}.{obj.name}" in NOT_FORMULAS:
            continue
        refs = _sections(ast.get_docstring(obj, clean=True) or "").get("References")
        if refs is None:
            continue
        for entry in re.split(r"^\.\. (?=\[)", refs, flags=re.MULTILINE)[1:]:
            if not LOCATOR.search(entry):
                text = " ".join(entry.split())[:70]
                bad.append(f"{module}.{obj.name}: no equation/theorem/section in: {text}")
    _report("locators", module, bad)


@pytest.mark.parametrize("module", EXAMPLE_MODULES)
def test_public_objects_have_examples(module):
    bad = []
    for obj in _public_objects(TREES[module]):
        if f"{module}.{obj.name}" in EXAMPLES_EXEMPT_OBJECTS:
            continue
        doc = ast.get_docstring(obj, clean=True) or ""
        if ">>>" not in _sections(doc).get("Examples", ""):
            bad.append(f"{module}.{obj.name}: no Examples section with '>>>' lines")
    _report("examples", module, bad)


def _is_dataclass(node):
    for dec in node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "dataclass":
            return True
    return False


def _constructor_takes_arguments(node):
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            args = item.args
            return len(args.posonlyargs) + len(args.args) > 1 or bool(
                args.kwonlyargs or args.vararg or args.kwarg
            )
    return _is_dataclass(node) and any(
        isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
        for item in node.body
    )


@pytest.mark.parametrize("module", EXAMPLE_MODULES)
def test_parameters_and_returns_documented(module):
    bad = []
    for obj in _public_objects(TREES[module]):
        sections = set(_sections(ast.get_docstring(obj, clean=True) or ""))
        name = f"{module}.{obj.name}"
        if isinstance(obj, ast.ClassDef):
            if _constructor_takes_arguments(obj) and not sections & {"Parameters", "Attributes"}:
                bad.append(f"{name}: constructor takes arguments, no Parameters/Attributes")
            continue
        args = obj.args
        if (args.posonlyargs or args.args or args.kwonlyargs or args.vararg or args.kwarg) and (
            "Parameters" not in sections
        ):
            bad.append(f"{name}: takes arguments, no Parameters section")
        returns = any(
            isinstance(node, ast.Return) and node.value is not None for node in _own_nodes(obj)
        )
        if returns and not sections & {"Returns", "Yields"}:
            bad.append(f"{name}: returns a value, no Returns section")
    _report("parameters", module, bad)


@pytest.mark.parametrize("module", sorted(TREES))
def test_no_control_characters_from_escapes(module):
    """A backslash in a non-raw docstring (``\\tfrac``, ``\\frac``, ``\\beta``) turns into a
    tab, form feed or backspace and garbles the rendered formula: use ``r\"\"\"`` docstrings."""
    bad = []
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False) or ""  # cleaning expands tabs
            bad += [
                f"{module}.{getattr(node, 'name', '')}: control character {hex(ord(ch))} "
                f"(a backslash escape in a non-raw docstring?)"
                for ch in sorted(set(re.findall(r"[\x07\x08\x0b\x0c\r\t]", doc)))
            ]
    _report("escapes", module, bad)


@pytest.mark.parametrize("module", sorted(TREES))
def test_each_section_once(module):
    bad = []
    for name, doc in _all_docstrings(TREES[module], module):
        titles = [m.group(1).strip() for m in SECTION.finditer(doc)]
        bad += [f"{name}: section {t!r} appears {titles.count(t)} times"
                for t in sorted(set(titles)) if titles.count(t) > 1]
    _report("sections", module, bad)


def _documented_names(text):
    """Names of the entries of a numpydoc parameter list (``a, b : type`` lines)."""
    names = set()
    for line in text.splitlines():
        if line and not line[0].isspace():
            for name in line.split(":", 1)[0].split(","):
                names.add(name.strip().lstrip("*"))
    return names


@pytest.mark.parametrize("module", EXAMPLE_MODULES)
def test_every_parameter_is_documented(module):
    bad = []
    for obj in _public_objects(TREES[module]):
        sections = _sections(ast.get_docstring(obj, clean=True) or "")
        if isinstance(obj, ast.ClassDef):
            fn = next((n for n in obj.body
                       if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
            text = sections.get("Parameters", "") + sections.get("Attributes", "")
        else:
            fn, text = obj, sections.get("Parameters", "")
        if fn is None or not text:
            continue  # a missing section is rule 7's finding
        args = fn.args
        names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
        names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
        documented = _documented_names(text)
        missing = [n for n in names if n not in ("self", "cls") and n not in documented]
        if missing:
            bad.append(f"{module}.{obj.name}: parameters not documented: {missing}")
    _report("parameters", module, bad)


ARRAY_TYPE = re.compile(r"ndarray|array-like|array_like")
SHAPE_STATED = re.compile(
    r"shape|\[|broadcast|elementwise|scalar|same size|same length|one per|one value per|each\b",
    re.IGNORECASE,
)


@pytest.mark.parametrize("module", EXAMPLE_MODULES)
def test_array_entries_state_their_shape(module):
    bad = []
    for obj in _public_objects(TREES[module]):
        sections = _sections(ast.get_docstring(obj, clean=True) or "")
        for title in ("Parameters", "Returns"):
            lines = sections.get(title, "").splitlines()
            for i, line in enumerate(lines):
                if not line or line[0].isspace() or ":" not in line:
                    continue
                kind = line.split(":", 1)[1]
                if not ARRAY_TYPE.search(kind):
                    continue
                description = []
                for follow in lines[i + 1:]:
                    if follow and not follow[0].isspace():
                        break
                    description.append(follow)
                if not SHAPE_STATED.search(kind + " " + " ".join(description)):
                    bad.append(f"{module}.{obj.name} {title}: no shape for {line.strip()!r}")
    _report("shapes", module, bad)


# --- rule 10: the citation record -----------------------------------------------------------------
# ``docs/citation_status.csv`` records, for each (key, locator) cited in a docstring, whether the
# locator was checked against the paper's text; ``docs/citations.py`` builds the citations page of
# the documentation from it and from the docstrings (the same parser is used here).

STATUSES = {"verified", "partial", "secondary", "unverified"}


@functools.lru_cache
def _citations_module():
    spec = importlib.util.spec_from_file_location("geodln_docs_citations", DOCS / "citations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_citation_record_is_well_formed():
    """Each row: a bibliography key, a locator, a known status; checked rows name their source."""
    citations = _citations_module()
    keys = _bib_keys()
    bad = []
    for (key, locator), row in citations.load_status().items():
        where = f"{key} {locator}"
        if key not in keys:
            bad.append(f"{where}: key not in docs/references.bib")
        if not citations.LOCATOR.fullmatch(locator) and locator != "Abstract":
            bad.append(f"{where}: not a locator")
        if row["status"] not in STATUSES:
            bad.append(f"{where}: status {row['status']!r} not in {sorted(STATUSES)}")
        if not (row.get("evidence") or "").strip():
            bad.append(f"{where}: no evidence (matched words, or why it was not checked)")
        if row["status"] != "unverified" and not (row.get("source") or "").startswith("http"):
            bad.append(f"{where}: status {row['status']} needs the source address")
    _report("citation record", "docs/citation_status.csv", bad)


def test_every_cited_locator_is_recorded():
    """Each (key, locator) cited in a docstring has a row in docs/citation_status.csv."""
    citations = _citations_module()
    status = citations.load_status()
    bad = sorted(
        {
            f"{row['object']}: {row['key']} {citations.normalise(loc)} has no row in "
            "docs/citation_status.csv (add one: verified with source and matched words, or "
            "unverified with the reason)"
            for row in citations.inventory(PACKAGE)
            for loc in row["locators"]
            if (row["key"], citations.normalise(loc)) not in status
        }
    )
    _report("citation record", "geodln", bad)
