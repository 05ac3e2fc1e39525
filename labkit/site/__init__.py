"""The course site: HTML pages built from the executed notebooks, readable without a kernel.

``make site`` runs ``python -m labkit.site``, which

1. stages the site's sources in ``build/site-src/``: this folder's own pages (``index.md``, made
   from the README's overview, lessons table and workshop path; ``running.md``; ``glossary.md``)
   and a copy of every notebook that the globs of :data:`SECTIONS` find, at the same path as in
   the checkout (``notebooks/00-welcome.ipynb``), so that links between notebooks keep working;
2. runs Sphinx (myst-nb, sphinx-book-theme, this folder's ``conf.py``) with warnings as errors
   into ``build/site/``. Notebooks are never executed: the pages show their stored outputs.

New lessons (``notebooks/07-*.ipynb``) and the instructor edition (``notebooks/instructor/``)
appear in the site, each section in its own part of the navigation, as soon as the files exist.

Nothing here imports Sphinx until :func:`build` runs, so ``import labkit.site`` is cheap.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import re
import shutil
import time
import urllib.parse
from typing import TypedDict

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]   # the checkout: labkit/site/ -> labkit/ -> .

STAGING = "build/site-src"      # the staged sources (relative to the checkout)
CACHE = "build/site-cache"      # Sphinx's doctrees and myst-nb's extracted outputs
OUTPUT = "build/site"           # the HTML
PAGES_JSON = "_labkit_pages.json"   # in the staging folder: page -> notebook, for the launch links
STAMP = ".labkit-site.json"     # in the output folder: what the build was made from

#: This folder's own pages, copied as they are (index.md is rendered, see :func:`render_index`).
OWN_PAGES = ("running.md", "glossary.md")

TITLE_PREFIX = re.compile(r"^Lambda Concurrency Lab\s*·\s*")


@dataclasses.dataclass(frozen=True)
class Section:
    """A part of the site: every file matching ``patterns`` (globs relative to the checkout)
    becomes a page, listed under ``caption`` in the navigation."""

    key: str
    caption: str
    patterns: tuple[str, ...]


#: Sections in the order of the navigation. A section whose globs match nothing is left out.
SECTIONS = (
    Section("lessons", "Lessons", ("notebooks/[0-9][0-9]-*.ipynb",)),
    Section("instructor", "Instructor edition",
            ("notebooks/instructor/*.ipynb", "notebooks/instructor/*.md")),
)


@dataclasses.dataclass(frozen=True)
class Page:
    section: Section
    source: str     # path relative to the checkout, e.g. notebooks/00-welcome.ipynb
    title: str      # the first heading, without the course-name prefix

    @property
    def stem(self) -> str:
        return pathlib.PurePosixPath(self.source).stem

    @property
    def docname(self) -> str:   # the page's name in the site: its path without suffix
        return self.source.removesuffix(self.suffix)

    @property
    def suffix(self) -> str:
        return pathlib.PurePosixPath(self.source).suffix


def _first_heading(path: pathlib.Path) -> str:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        texts = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                 for c in cells if c["cell_type"] == "markdown"]
    else:
        texts = [path.read_text(encoding="utf-8")]
    for text in texts:
        for line in text.splitlines():
            if line.startswith("# "):
                return TITLE_PREFIX.sub("", line[2:].strip())
    raise ValueError(f"{path}: no '# ' heading, so it cannot be a page of the course site")


def find_pages(root: pathlib.Path = ROOT) -> list[Page]:
    """Every page the sections' globs find under ``root``, in navigation order."""
    pages, seen = [], set()
    for section in SECTIONS:
        found = sorted({p for pattern in section.patterns for p in root.glob(pattern)
                        if ".ipynb_checkpoints" not in p.parts})
        for path in found:
            page = Page(section, path.relative_to(root).as_posix(), _first_heading(path))
            if page.docname in seen:
                raise ValueError(f"two files would make the page {page.docname}: rename one ({page.source})")
            seen.add(page.docname)
            pages.append(page)
    return pages


BINDERHUB = "https://mybinder.org"   # the public Binder


def binder_url(repository_url: str, ref: str, path: str | None = None) -> str:
    """The mybinder.org link that builds ``repository_url`` at ``ref`` from its environment.yml
    and opens ``path`` (relative to the repository's root) in JupyterLab."""
    m = re.fullmatch(r"https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?", repository_url)
    if not m:
        raise ValueError(f"labkit_repository_url must be https://github.com/OWNER/REPO, not {repository_url!r}")
    url = f"{BINDERHUB}/v2/gh/{m.group(1)}/{m.group(2)}/{urllib.parse.quote(ref, safe='')}"
    if path:
        url += "?urlpath=" + urllib.parse.quote(f"lab/tree/{path}", safe="/")
    return url


# --- the overview page, from the README ------------------------------------------------------

def _readme_section(readme: str, heading: str) -> str:
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", readme, flags=re.DOTALL | re.MULTILINE)
    if not m:
        raise ValueError(f"README.md has no '## {heading}' section, which the course site's overview uses")
    return m.group(1)


class ReadmeParts(TypedDict):
    """What :func:`readme_parts` finds in the README."""
    overview: str
    rows: dict[str, list[str]]      # notebook stem -> the lessons table row's other cells
    workshop: str


def readme_parts(readme: str) -> ReadmeParts:
    """The README's course overview (the text before its first ``##``), its lessons table
    (notebook stem -> the row's other cells) and its workshop path (the "For instructors"
    paragraph). Raises ValueError, naming what is missing, when the README changed shape."""
    m = re.match(r"# [^\n]*\n(.*?)(?=^## )", readme, flags=re.DOTALL | re.MULTILINE)
    if not m:
        raise ValueError("README.md does not start with a '# ' title followed by the overview")
    overview = m.group(1).strip()
    lessons = _readme_section(readme, "Lessons")
    rows = {}
    for line in lessons.splitlines():
        row = re.match(r"^\|\s*`([^`]+)`\s*\|(.*)\|\s*$", line)
        if row:
            rows[row.group(1)] = [c.strip() for c in row.group(2).split("|")]
    if not rows:
        raise ValueError("README.md's '## Lessons' section has no table rows like | `00-welcome` | ... |")
    workshop = re.search(r"^\*\*For instructors\.\*\*.*?(?=\n\s*\n|\Z)", lessons, flags=re.DOTALL | re.MULTILINE)
    if not workshop:
        raise ValueError("README.md's '## Lessons' section has no '**For instructors.**' paragraph")
    return {"overview": overview, "rows": rows, "workshop": workshop.group(0).strip()}


def _toctree(caption: str, entries: list[str]) -> str:
    return "\n".join(["```{toctree}", f":caption: {caption}", ":maxdepth: 1", ":hidden:", "",
                      *entries, "```", ""])


def render_index(template: str, readme: str, pages: list[Page]) -> str:
    """index.md: the template with its ``<!-- site:NAME -->`` markers filled in."""
    parts = readme_parts(readme)
    lessons = [p for p in pages if p.section.key == "lessons"]
    table = ["| lesson | what you find out | time |", "|---|---|---|"]
    for page in lessons:
        cells = parts["rows"].get(page.stem, ["", ""])
        what, minutes = (cells + ["", ""])[:2]
        table.append(f"| [{page.title}]({page.docname}{page.suffix}) | {what or '—'} | {minutes or '—'} |")
    toctrees = [_toctree("The course", ["running", "glossary"])]
    for section in SECTIONS:
        entries = [f"{p.title} <{p.docname}>" for p in pages if p.section == section]
        if entries:
            toctrees.append(_toctree(section.caption, entries))
    fills = {
        "overview": parts["overview"],
        "lessons-table": "\n".join(table),
        "workshop": parts["workshop"],
        "toctrees": "\n".join(toctrees),
    }
    out = template
    for name, text in fills.items():
        marker = f"<!-- site:{name} -->"
        if marker not in out:
            raise ValueError(f"labkit/site/index.md lacks the marker {marker}")
        out = out.replace(marker, text)
    return out


# --- staging and building ---------------------------------------------------------------------

def stage(root: pathlib.Path = ROOT, staging: pathlib.Path | None = None) -> list[Page]:
    """Lay out the site's sources in ``staging`` (emptied first); return the lesson pages."""
    staging = staging or root / STAGING
    pages = find_pages(root)
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    readme = (root / "README.md").read_text(encoding="utf-8")
    template = (HERE / "index.md").read_text(encoding="utf-8")
    (staging / "index.md").write_text(render_index(template, readme, pages), encoding="utf-8")
    for name in OWN_PAGES:
        shutil.copy2(HERE / name, staging / name)
    for page in pages:
        target = staging / (page.docname + page.suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / page.source, target)   # a copy: the build never touches notebooks/
    (staging / PAGES_JSON).write_text(json.dumps(
        {p.docname: {"source": p.source, "title": p.title, "section": p.section.caption} for p in pages},
        indent=1), encoding="utf-8")
    return pages


def inputs_digest(root: pathlib.Path = ROOT) -> str:
    """A digest of everything the site is built from: this folder, the README, the pages."""
    files = [p for p in sorted(HERE.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
    files += [root / "README.md"] + [root / p.source for p in find_pages(root)]
    h = hashlib.sha256()
    for path in files:
        h.update(path.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def is_fresh(root: pathlib.Path = ROOT, out: pathlib.Path | None = None) -> bool:
    """True when ``out`` holds a site built from exactly the current inputs."""
    stamp = (out or root / OUTPUT) / STAMP
    try:
        return json.loads(stamp.read_text())["digest"] == inputs_digest(root)
    except (OSError, ValueError, KeyError):
        return False


def build(root: pathlib.Path = ROOT, out: pathlib.Path | None = None, strict: bool = True,
          quiet: bool = True) -> int:
    """Stage and build the site; return Sphinx's exit status (0: built, and warning-free if
    ``strict``). The output folder is emptied first, so no page of a removed lesson survives."""
    from sphinx.cmd.build import build_main

    t0 = time.monotonic()
    out = out or root / OUTPUT
    staging, cache = root / STAGING, root / CACHE
    pages = stage(root, staging)
    if out.exists():
        shutil.rmtree(out)
    args = ["-b", "html", "-c", str(HERE), "-d", str(cache / "doctrees"), "-E", "-n"]
    if strict:
        args += ["-W", "--keep-going"]
    if quiet:
        args.append("-q")
    status = build_main([*args, str(staging), str(out)])
    if status == 0:
        html = [p for p in out.rglob("*.html") if not {"_static", "_sources", "_images"} & set(p.parts)]
        seconds = time.monotonic() - t0
        (out / STAMP).write_text(json.dumps({"digest": inputs_digest(root), "pages": len(html),
                                             "notebooks": len(pages), "seconds": round(seconds, 1)}))
        print(f"site: {len(html)} pages ({len(pages)} from notebooks) in {out} ({seconds:.1f} s)")
    return status
