# Sphinx configuration for astrofmx. Builds offline (no intersphinx) with -W.
import datetime

import astrofmx

project = "astrofmx"
author = "astrofmx developers"
copyright = f"{datetime.date.today().year}, {author}"
version = release = astrofmx.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_automodapi.automodapi",
    "sphinx_automodapi.smart_resolver",
    "numpydoc",
    "pytest_doctestplus.sphinx.doctestplus",
]
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
automodapi_toctreedirnm = "reference/api"
automodsumm_inherited_members = False
autosummary_generate = True
default_role = "obj"
nitpicky = False
exclude_patterns = ["_build", "api/*.rst.txt"]
html_theme = "alabaster"
html_static_path = []
# automodapi class template without scikit-learn's metadata-routing helpers
templates_path = ["_templates"]
suppress_warnings = ["toc.excluded"]

