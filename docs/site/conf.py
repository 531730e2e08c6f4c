"""Sphinx configuration of the API reference site (docs/site).

Build it (from the repository root; ``pip install -e ".[docs]"`` first)::

    python -m sphinx -W --keep-going -b html docs/site build/docs

Warnings are errors. The reference pages are written here at build time from the package's
public names (``iop_outcomes.__all__``, the ``plot_*`` functions of ``iop_outcomes.plots``,
``iop_outcomes.io.__all__``, ``iop_outcomes.synth.__all__``, ``iop_outcomes.instruments.__all__``)
so they never go stale; autosummary then writes one page per name from its numpydoc docstring.
The notebooks (``gallery`` is a link to ``notebooks/``, jupytext ``py:percent`` files) are
executed by myst-nb while the site builds, so the gallery shows their tables and figures.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # document this checkout, not an installed copy

import iop_outcomes  # noqa: E402

project = "iop_outcomes"
author = "the iop_outcomes developers"
copyright = "the iop_outcomes developers (MIT licence)"
release = version = iop_outcomes.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
]

root_doc = "index"
exclude_patterns = [
    "conf.py",
    "_build",
    "notebooks/README.md",  # the gallery page says the same
    "notebooks/*.ipynb",
    "notebooks/.ipynb_checkpoints",
    "docs/site",  # docs -> .. (the narrative docs beside this folder): not this folder again
    "docs/*.py",
    "docs/api.md",  # included by rules.md
]
html_theme = "alabaster"
html_title = f"iop_outcomes {release}"
html_static_path: list[str] = []

# autodoc / autosummary / numpydoc
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # numpydoc's Parameters section carries the types
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False  # result classes document their methods in their docstring
numpydoc_xref_param_type = False
# a function's Parameters section must match its signature: every parameter documented (PR01),
# none that does not exist (PR02), so renamed arguments cannot leave stale docs behind. Classes
# (and their methods) document their fields as Attributes and are outside this check; their
# names are added to numpydoc_validation_exclude by write_reference_pages() below.
numpydoc_validation_checks = {"PR01", "PR02"}
numpydoc_validation_exclude: set[str] = set()

# notebooks: jupytext py:percent sources, executed while the site builds
nb_custom_formats = {".py": ["jupytext.reads", {"fmt": "py:percent"}]}
nb_execution_mode = "force"
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_merge_streams = True
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
suppress_warnings: list[str] = []

MODULE_NAMES = {"instruments", "synth", "plots", "io"}


def _plot_names() -> list[str]:
    plots = importlib.import_module("iop_outcomes.plots")
    names = set(getattr(plots, "__all__", ()))
    for info in pkgutil.iter_modules(plots.__path__):
        if not info.name.startswith("_"):
            module = importlib.import_module(f"iop_outcomes.plots.{info.name}")
            names.update(n for n in vars(module) if n.startswith("plot_"))
    return sorted(n for n in names if callable(getattr(plots, n, None)))


def _section(title: str, module: str, names: list[str], intro: str = "") -> str:
    lines = [title, "=" * len(title), "", f".. currentmodule:: {module}", ""]
    if intro:
        lines += [intro, ""]
    lines += [".. autosummary::", "   :toctree: generated", ""]
    lines += [f"   {n}" for n in names]
    return "\n".join(lines) + "\n"


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def write_reference_pages() -> None:
    """api/*.rst from the public names (gitignored: they follow the code)."""
    api = HERE / "api"
    api.mkdir(exist_ok=True)
    top = [n for n in iop_outcomes.__all__ if n not in MODULE_NAMES and n != "__version__"]
    functions = [n for n in top if inspect.isfunction(inspect.unwrap(getattr(iop_outcomes, n)))]
    classes = [n for n in top if n not in functions]
    for module, names in (
        ("iop_outcomes", classes),
        ("iop_outcomes.io", importlib.import_module("iop_outcomes.io").__all__),
        ("iop_outcomes.synth", importlib.import_module("iop_outcomes.synth").__all__),
        ("iop_outcomes.instruments", iop_outcomes.instruments.__all__),
    ):
        for name in names:
            if inspect.isclass(getattr(importlib.import_module(module), name)):
                numpydoc_validation_exclude.add(rf"^{re.escape(module)}\.{name}(\.|$)")
    pages = {
        "functions": _section(
            "Analyses (iop.*)",
            "iop_outcomes",
            functions,
            "The functions of ``import iop_outcomes as iop``; their vocabulary is in "
            ":doc:`../rules`.",
        ),
        "classes": _section("Results, rules and errors", "iop_outcomes", classes),
        "plots": _section(
            "Plots (iop.plots)",
            "iop_outcomes.plots",
            _plot_names(),
            "Every plot reads a result object and returns the matplotlib Axes.",
        ),
        "io": _section(
            "Loading (iop.io)",
            "iop_outcomes.io",
            [n for n in importlib.import_module("iop_outcomes.io").__all__ if n not in top],
            "``iop.load`` and ``LoadResult`` are documented with the analyses.",
        ),
        "synth": _section(
            "Synthetic data (iop.synth)",
            "iop_outcomes.synth",
            list(importlib.import_module("iop_outcomes.synth").__all__),
        ),
        "instruments": _section(
            "Instruments (iop.instruments)",
            "iop_outcomes.instruments",
            list(iop_outcomes.instruments.__all__),
        ),
    }
    for name, text in pages.items():
        _write_if_changed(api / f"{name}.rst", text)
    # autosummary writes one stub per listed name into api/generated; drop stubs of names that
    # are no longer public (a stale stub would be a page outside every toctree)
    listed = {
        f"{line.split('currentmodule:: ')[1]}.{entry.strip()}.rst"
        for text in pages.values()
        for line in text.splitlines()
        if "currentmodule::" in line
        for entry in text.split(":toctree: generated")[1].split()
    }
    for stub in (api / "generated").glob("*.rst"):
        if stub.name not in listed:
            stub.unlink()
    index = ["API reference", "=============", "", ".. toctree::", "   :maxdepth: 1", ""]
    index += [f"   {name}" for name in pages]
    _write_if_changed(api / "index.rst", "\n".join(index) + "\n")


write_reference_pages()
