"""Sphinx extension for the course site (loaded by conf.py).

* Every page made from a notebook gets a "Run it yourself" box under its title: a link that
  launches the notebook in Binder (JupyterLab at ``urlpath=lab/tree/<the notebook's path>``) and
  how to open it in JupyterLab locally with ``make lab``.
* ``{labkit-binder} <path>`` directive: a paragraph with a Binder link to a file of the repository.
* Math (``$$...$$`` in a notebook's Markdown) is rendered to MathML when the site is built, so
  pages need no MathJax (which Sphinx would load from a CDN: the site must work offline).

Configuration (conf.py): ``labkit_repository_url`` (a GitHub repository URL) and
``labkit_binder_ref`` (the branch or tag Binder builds).
"""

from __future__ import annotations

import json
import pathlib
from typing import ClassVar

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from sphinx import addnodes

from . import PAGES_JSON, binder_url


def _pages(app) -> dict:
    if not hasattr(app.env, "labkit_pages"):
        path = pathlib.Path(app.srcdir) / PAGES_JSON
        app.env.labkit_pages = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return app.env.labkit_pages


def _doc_link(docname: str, target: str, text: str) -> addnodes.pending_xref:
    ref = addnodes.pending_xref("", refdoc=docname, refdomain="std", reftype="doc",
                                reftarget=target, refexplicit=True, refwarn=True)
    ref += nodes.inline(text=text)
    return ref


def add_launch_box(app, doctree) -> None:
    docname = app.env.docname
    page = _pages(app).get(docname)
    if page is None:
        return
    source = page["source"]
    config = app.config
    url = binder_url(config.labkit_repository_url, config.labkit_binder_ref, source)
    is_notebook = source.endswith(".ipynb")
    box = nodes.admonition(classes=["tip", "labkit-launch"])
    box += nodes.title(text="Run it yourself")
    launch = nodes.paragraph()
    launch += nodes.reference("", "Launch in Binder", refuri=url, classes=["labkit-binder-link"])
    launch += nodes.Text(": JupyterLab in your browser with this notebook open, nothing to install "
                         "(the first start can take a few minutes)." if is_notebook else
                         ": JupyterLab in your browser with this page open, nothing to install.")
    local = nodes.paragraph()
    local += nodes.Text("Or open it in JupyterLab on your own machine: in a clone of the course run ")
    local += nodes.literal(text="make lab")
    local += nodes.Text(" and open ")
    local += nodes.literal(text=source)
    local += nodes.Text(" (")
    local += _doc_link(docname, "/running", "how to run the course")
    local += nodes.Text(").")
    box += [launch, local]
    if is_notebook:
        box += nodes.paragraph(text="This page shows the outputs stored in the notebook; to run the "
                                    "cells and move the widgets, you need one of the two.")
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None or not section.children or not isinstance(section[0], nodes.title):
        raise ValueError(f"{docname}: the page does not start with a title, so the launch box has no place")
    section.insert(1, box)


class BinderLinkDirective(Directive):
    """``{labkit-binder} notebooks/00-welcome.ipynb`` with the link text as content."""

    required_arguments = 1
    has_content = True
    option_spec: ClassVar[dict] = {"class": directives.class_option}

    def run(self):
        env = self.state.document.settings.env
        config = env.app.config
        url = binder_url(config.labkit_repository_url, config.labkit_binder_ref, self.arguments[0])
        text = " ".join(self.content).strip() or "Launch in Binder"
        para = nodes.paragraph(classes=["labkit-binder"] + self.options.get("class", []))
        para += nodes.reference("", text, refuri=url, classes=["labkit-binder-link"])
        return [para]


# --- math as MathML -----------------------------------------------------------------------------

def _mathml(latex: str, display: str) -> str:
    from latex2mathml.converter import convert

    return convert(latex.strip(), display=display)


def visit_math(self, node):
    self.body.append(self.starttag(node, "span", "", CLASS="math notranslate"))
    self.body.append(_mathml(node.astext(), "inline") + "</span>")
    raise nodes.SkipNode


def visit_displaymath(self, node):
    self.body.append(self.starttag(node, "div", CLASS="math notranslate"))
    if node.get("number"):
        self.body.append(f'<span class="eqno">({node["number"]})</span>')
    self.body.append(_mathml(node.astext(), "block") + "</div>\n")
    raise nodes.SkipNode


def setup(app):
    app.add_config_value("labkit_repository_url", "", "env", str)
    app.add_config_value("labkit_binder_ref", "main", "env", str)
    app.add_directive("labkit-binder", BinderLinkDirective)
    app.add_html_math_renderer("mathml", (visit_math, None), (visit_displaymath, None))
    app.connect("doctree-read", add_launch_box)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
