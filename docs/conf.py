"""Sphinx configuration of the geodln documentation.

Built offline by ``make docs`` (``sphinx-build -W --keep-going``): no intersphinx, notebooks are
rendered from the repository without executing them (myst-nb, ``nb_execution_mode = "off"``),
the bibliography comes from ``docs/references.bib`` (sphinxcontrib-bibtex).
"""

import os
import re
import shutil
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
sys.path.insert(0, ROOT)

# Non-interactive plotting while autodoc imports the modules.
os.environ.setdefault("MPLBACKEND", "Agg")

# The notebooks live in ``notebooks/``; Sphinx only reads sources under ``docs/``, so copy them
# into a generated, git-ignored folder on every build (they are rendered, never executed).
_NB_OUT = os.path.join(DOCS, "notebooks")
shutil.rmtree(_NB_OUT, ignore_errors=True)
os.makedirs(_NB_OUT)
for _name in sorted(os.listdir(os.path.join(ROOT, "notebooks"))):
    if _name.endswith(".ipynb"):
        shutil.copy(os.path.join(ROOT, "notebooks", _name), os.path.join(_NB_OUT, _name))

project = "geodln"
author = "the geodln developers"
copyright = "the geodln developers"  # noqa: A001
release = version = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_nb",
    "sphinxcontrib.bibtex",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
templates_path = ["_templates"]

# --- notebooks: render, never execute ---------------------------------------------------------
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
# numpydoc renders a module's References as citations that its text need not cite by number
suppress_warnings = ["myst.header", "ref.citation"]

# --- API reference -----------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
# Members are listed by the module template (docs/_templates/autosummary/module.rst): a package
# page shows its docstring and its submodules only, so every object is documented once, in the
# module that defines it (``geodln.entropy`` is both a module and a re-exported function).
autodoc_default_options = {}
autodoc_member_order = "bysource"
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_use_plots = False



_LITERAL = re.compile(r"``.*?``|`[^`]*`")
_BARS = re.compile(r"(?<![\\|])\|([^|\s`][^|`]*?)\|(?!\|)")


def _escape_bars(text):
    """Escape ``|x|`` outside literals and roles: prose absolute values, not substitutions."""
    out, pos = [], 0
    for m in _LITERAL.finditer(text):
        out.append(_BARS.sub(r"\\|\1\\|", text[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_BARS.sub(r"\\|\1\\|", text[pos:]))
    return "".join(out)


def _process_docstring(app, what, name, obj, options, lines):
    """Docstrings write |Ω|, |T| for sizes in prose; in reST that is a substitution reference."""
    lines[:] = [_escape_bars(line) for line in lines]


def setup(app):
    """Register the docstring preprocessor."""
    app.connect("autodoc-process-docstring", _process_docstring, priority=400)


# --- citations page ----------------------------------------------------------------------------
# ``docs/citations.md`` (git-ignored) is generated on every build from the docstrings' References
# sections and the verification record ``docs/citation_status.csv`` (see ``docs/citations.py``).
sys.path.insert(0, DOCS)
import citations  # noqa: E402

citations.write_page()


# --- bibliography ------------------------------------------------------------------------------
bibtex_bibfiles = ["references.bib"]


def _register_key_label_style():
    """Label every entry by its BibTeX key (``[CMV23]``), the key docstrings cite."""
    from pybtex.plugin import register_plugin
    from pybtex.style.formatting.unsrt import Style as UnsrtStyle
    from pybtex.style.labels import BaseLabelStyle

    class KeyLabelStyle(BaseLabelStyle):
        def format_labels(self, sorted_entries):
            for entry in sorted_entries:
                yield entry.key

    class KeyStyle(UnsrtStyle):
        default_label_style = "geodln_key"

    register_plugin("pybtex.style.labels", "geodln_key", KeyLabelStyle)
    register_plugin("pybtex.style.formatting", "geodln_key", KeyStyle)


_register_key_label_style()
bibtex_default_style = "geodln_key"
bibtex_reference_style = "label"

# --- offline -----------------------------------------------------------------------------------
# No intersphinx: the build must not touch the network. MathJax is loaded by the *browser* when a
# page is viewed; the build itself needs no network.
html_theme = "alabaster"
html_static_path = []
html_title = "geodln"
html_theme_options = {"description": "Riemannian geometry of deep linear networks"}
