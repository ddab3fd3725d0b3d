"""Sphinx configuration of hogwild's documentation.

``pip install ".[docs]" && make -C docs html`` builds it into docs/_build/html,
warnings as errors. autodoc imports hogwild: ``make`` runs in docs/ and gets
the installed package; ``python -m sphinx -W -b html docs docs/_build/html``
run from the repository root gets ./hogwild, which needs an in-place build
(``python setup.py build_ext --inplace``).
"""
import re

import hogwild

project = "hogwild"
author = "the hogwild developers"
copyright = "the hogwild developers, BSD-3-Clause"
release = hogwild.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
# no network at build time: no intersphinx

myst_heading_anchors = 3
numpydoc_show_class_members = False  # members are listed by autodoc's :members:
autodoc_member_order = "bysource"

html_theme = "pydata_sphinx_theme"
html_title = f"hogwild {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
# every page in the left sidebar (the theme's section navigation lists only a
# page's children, and these pages have none), long code lines wrapped
templates_path = ["_templates"]
html_sidebars = {"**": ["site-pages.html"]}
html_static_path = ["_static"]
html_css_files = ["hogwild.css"]


def _plain_scikit_learn_refs(app, what, name, obj, options, lines):
    """Inherited scikit-learn docstrings (``score``) cite labels of scikit-learn's own
    documentation, which this one does not have: keep their text, drop the link."""
    if getattr(obj, "__module__", "").startswith("sklearn."):
        lines[:] = [re.sub(r":ref:`([^`<]+?)(?:\s*<[^>]+>)?`", r"``\1``", line)
                    for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _plain_scikit_learn_refs)
