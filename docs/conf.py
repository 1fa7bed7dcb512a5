"""Sphinx configuration of the gpuresample documentation.

Build with ``sphinx-build -W --keep-going -b html docs docs/_build/html``
(``pip install ".[docs]"`` first; CI runs it in ``.ci/run``).  The API page
documents the public names through the top-level ``gpuresample`` namespace
(and the few public submodules named in ``api.rst``), never the internal
module layout.  No extension here needs the network (no intersphinx): the
build runs offline.
"""

import inspect
from importlib.metadata import PackageNotFoundError, version

project = "gpuresample"
author = "gpuresample developers"
copyright = "gpuresample developers"  # no year: the build does not depend on the date

try:
    release = version("gpuresample")
except PackageNotFoundError:  # building from a source tree that is not installed
    release = "0+unknown"
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "numpydoc",
]

root_doc = "index"
exclude_patterns = ["_build"]
language = "en"

# -- autodoc / numpydoc --------------------------------------------------------
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc "Parameters" sections carry the types
# Defaults as written in the source: Drizzle.add_image's ``scale`` default is a
# private sentinel object whose repr (<object object at 0x...>) means nothing.
autodoc_preserve_defaults = True
# api.rst lists the members of each class with :members:; numpydoc's own member
# tables would need autosummary stub pages and a toctree.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- HTML ----------------------------------------------------------------------
html_theme = "alabaster"  # built into Sphinx: no theme dependency
html_theme_options = {
    "description": "Drizzle resampling on GPUs and CPUs",
    "fixed_sidebar": True,
}
html_show_sourcelink = False


def _drop_type_docstring(app, what, name, obj, options, lines):
    """Drop the docstring of a constant's type (``tuple``) that autodoc shows for ``KERNELS`` & co.

    The kernel-name tuples are re-exported by ``gpuresample/__init__.py``,
    which has no ``#:`` comment for them, so autodoc falls back to
    ``tuple.__doc__``; their description is written in ``api.rst`` instead.
    """
    type_doc = inspect.getdoc(type(obj))
    if what == "data" and type_doc and "\n".join(lines).strip() == type_doc.strip():
        lines.clear()


def setup(app):
    # priority 100: before numpydoc (priority 500) reformats the docstring
    app.connect("autodoc-process-docstring", _drop_type_docstring, priority=100)
