"""The course site (``make site``) as a reader meets it: every built page in headless Chromium.

The site in build/site/ is reused when it was built from the current sources (``make test``
runs ``make site`` just before); otherwise it is built first, warnings as errors. It is served
on 127.0.0.1; a request to any other host is blocked and fails the page (the site must work
offline and load nothing from a CDN).

For every built page: no console error and no uncaught exception, no failed request, every image
loaded (naturalWidth > 0), every internal link pointing to an existing file and, with a
#fragment, to an existing id in it. A page made from a notebook shows at least as many figures
as the notebook has stored image outputs, each a link to the full-size image, and links to the
notebook in Binder. The home page's navigation lists every lesson. Search finds "throttle"
(lesson 03 among the results). A screenshot of each page is saved as site-<page>.png in
``$LABKIT_SCREENSHOTS`` (default tests/browser/screenshots/).

Skipped, with the reason, when Chromium or playwright is missing (as the JupyterLab test is).
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import importlib
import json
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

from labkit import site as course_site

from .conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, SITE_SUMMARY, VIEWPORT

SITE_DIR = ROOT / course_site.OUTPUT
NOTEBOOK_PAGES = {p.docname: p for p in course_site.find_pages(ROOT)}
# Pages of labkit/site/ and Sphinx's own (the index of terms, the search page).
OWN_PAGES = ["index", "running", "glossary", "genindex", "search"]
PAGES = OWN_PAGES + list(NOTEBOOK_PAGES)
IMAGE_MIME = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
MAX_SHOT_HEIGHT = 30000   # px; a taller page is cut off in its screenshot
LOCAL_SCHEMES = ("data:", "blob:", "about:")

JS_IMAGES = """async () => {
  const imgs = [...document.images];
  imgs.forEach(img => { if (img.loading === 'lazy') img.loading = 'eager'; });
  await Promise.all(imgs.map(img => img.complete ? null : new Promise(done => {
    img.addEventListener('load', done); img.addEventListener('error', done); setTimeout(done, 15000);
  })));
  return imgs.map(img => ({
    src: img.getAttribute('src'), loaded: img.complete && img.naturalWidth > 0,
    width: img.naturalWidth, height: img.naturalHeight,
    shown: img.getBoundingClientRect().width,
    figure: (img.getAttribute('src') || '').includes('_images/') && !!img.closest('article'),
    linked: !!img.closest('a.labkit-figure-link'),
  }));
}"""

JS_LINKS = """() => [...document.querySelectorAll('a[href]')].map(a => ({
  href: a.href, raw: a.getAttribute('href'), text: a.textContent.trim().slice(0, 60),
  nav: !!a.closest('nav.bd-docs-nav'),
}))"""


def _shot_name(docname: str) -> str:
    page = NOTEBOOK_PAGES.get(docname)
    if page is None:
        return f"site-{docname}.png"
    prefix = "" if page.section.key == "lessons" else f"{page.section.key}-"
    return f"site-{prefix}{page.stem}.png"


def _stored_images(source) -> int:
    """The image outputs stored in a notebook (what its page must show as figures)."""
    if not source.endswith(".ipynb"):
        return 0
    nb = json.loads((ROOT / source).read_text(encoding="utf-8"))
    return sum(1 for cell in nb["cells"] for out in cell.get("outputs", [])
               if any(m in out.get("data", {}) for m in IMAGE_MIME))


class _Ids(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)


@functools.cache
def _ids(path) -> frozenset:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site_dir(playwright_session):
    """build/site/, built from the current sources (reused when it already is)."""
    if course_site.is_fresh(ROOT):
        SITE_SUMMARY.append(f"reused {SITE_DIR} (built from the current sources)")
        return SITE_DIR
    for module in ("sphinx", "myst_nb", "sphinx_book_theme", "latex2mathml"):
        try:
            importlib.import_module(module)
        except ImportError:
            pytest.skip(f"site test skipped: {module} is not installed and build/site/ is not up to date "
                        "(it is in the site extra: pip install -e '.[site]', or make setup)")
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "labkit.site", "--root", str(ROOT)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, f"the site build failed:\n{proc.stdout}\n{proc.stderr}"
    SITE_SUMMARY.append(f"built the site in {time.monotonic() - t0:.1f} s: {proc.stdout.strip()}")
    return SITE_DIR


@pytest.fixture(scope="module")
def site_url(site_dir):
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def site_browser(playwright_session):
    b = playwright_session.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        yield b
    finally:
        b.close()


class _Visit:
    """A page opened in a fresh browser context, recording what went wrong while it loaded."""

    def __init__(self, browser, base_url):
        self.base = base_url
        self.console, self.failed, self.external = [], [], []
        self.context = browser.new_context(viewport=VIEWPORT)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.console.append(f"console.{m.type}: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.console.append(f"uncaught: {e}"))
        self.page.on("response", lambda r: self.failed.append(f"HTTP {r.status} {r.url}")
                     if r.status >= 400 else None)
        self.page.on("requestfailed", lambda r: self.failed.append(f"failed {r.url}: {r.failure}")
                     if r.url.startswith(self.base) else None)

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.base + "/") or url.startswith(LOCAL_SCHEMES):
            route.continue_()
        else:
            self.external.append(url)
            route.abort()

    def open(self, path):
        self.page.goto(f"{self.base}/{path}", wait_until="load", timeout=60_000)
        self.page.wait_for_load_state("networkidle", timeout=30_000)

    def close(self):
        self.context.close()


def _check_link(link, base, site_dir):
    """None if the link is fine (or external), else what is wrong with it."""
    url = urllib.parse.urlsplit(link["href"])
    if url.scheme in ("mailto", "javascript", "tel"):
        return None
    if f"{url.scheme}://{url.netloc}" != base:
        return None   # external: not checked here (no network); the Binder links are checked apart
    path = urllib.parse.unquote(url.path).lstrip("/")
    target = site_dir / path
    if not path or path.endswith("/"):
        target = target / "index.html"
    if not target.is_file():
        return f"{link['raw']!r} ({link['text']!r}): no file {target.relative_to(site_dir)}"
    fragment = urllib.parse.unquote(url.fragment)
    if fragment and target.suffix == ".html" and fragment not in _ids(target):
        return f"{link['raw']!r} ({link['text']!r}): no id {fragment!r} in {target.relative_to(site_dir)}"
    return None


def test_every_built_page_is_visited(site_dir):
    built = sorted(p.relative_to(site_dir).with_suffix("").as_posix() for p in site_dir.rglob("*.html")
                   if not {"_static", "_sources", "_images"} & set(p.relative_to(site_dir).parts))
    assert built == sorted(PAGES), ("the site's pages and the pages this test opens differ: "
                                    "add new kinds of page to OWN_PAGES")


@pytest.mark.parametrize("docname", PAGES)
def test_page_loads_with_its_figures_and_links(docname, site_dir, site_url, site_browser, screenshot_dir):
    conf = importlib.import_module("labkit.site.conf")
    visit = _Visit(site_browser, site_url)
    problems, note = [], ""
    try:
        visit.open(f"{docname}.html")
        images = visit.page.evaluate(JS_IMAGES)
        links = visit.page.evaluate(JS_LINKS)
        title = visit.page.title()
        broken = [i["src"] for i in images if not i["loaded"]]
        if broken:
            problems.append(f"images that did not load: {broken}")
        figures = [i for i in images if i["figure"]]
        hidden = [i["src"] for i in figures if i["shown"] <= 0]
        if hidden:
            problems.append(f"figures not shown (zero width): {hidden}")
        unlinked = [i["src"] for i in figures if not i["linked"]]
        if unlinked:
            problems.append(f"figures that do not open at full size on a click (labkit.js): {unlinked}")
        bad_links = sorted({p for p in (_check_link(link, site_url, site_dir) for link in links) if p})
        problems += [f"broken link {b}" for b in bad_links]
        external = sorted({link["href"] for link in links if not link["href"].startswith(site_url)
                           and link["href"].startswith("http")})

        page = NOTEBOOK_PAGES.get(docname)
        if page is not None:
            want = _stored_images(page.source)
            if len(figures) < want:
                problems.append(f"{len(figures)} figures shown, but the notebook stores {want} image outputs")
            binder = course_site.binder_url(conf.REPOSITORY_URL, conf.BINDER_REF, page.source)
            if binder not in external:
                problems.append(f"no Binder link to {page.source} ({binder})")
            if not (ROOT / page.source).is_file():
                problems.append(f"the Binder link's target {page.source} is not in the repository")
            if "make lab" not in visit.page.inner_text("article"):
                problems.append("no 'make lab' hint on the page")
        if docname == "index":
            nav = {urllib.parse.urlsplit(link["href"]).path.lstrip("/") for link in links if link["nav"]}
            missing = [d for d in NOTEBOOK_PAGES if f"{d}.html" not in nav]
            if missing:
                problems.append(f"pages missing from the navigation: {missing}")

        shot = screenshot_dir / _shot_name(docname)
        height = visit.page.evaluate("document.documentElement.scrollHeight")
        if height > MAX_SHOT_HEIGHT:
            visit.page.screenshot(path=str(shot), clip={"x": 0, "y": 0, "width": VIEWPORT["width"],
                                                        "height": MAX_SHOT_HEIGHT}, full_page=True)
            note = f", cut at {MAX_SHOT_HEIGHT}px"
        else:
            visit.page.screenshot(path=str(shot), full_page=True)
        SITE_SUMMARY.append(
            f"{docname}: {title!r}, {len(images)} images ({len(figures)} figures) loaded "
            f"{len(images) - len(broken)}/{len(images)}, {len(links)} links "
            f"({len(links) - len(external)} internal, {len(bad_links)} broken), "
            f"console errors {len(visit.console)}, blocked requests {len(visit.external)}; "
            f"screenshot {shot.name} ({height}px tall{note})")
    finally:
        visit.close()
    problems += visit.console
    problems += visit.failed
    problems += [f"request to another host (the site must work offline): {u}" for u in visit.external]
    assert not problems, f"{docname}.html:\n  " + "\n  ".join(problems)


def test_search_finds_throttle(site_url, site_browser, screenshot_dir):
    """Type "throttle" in the header's search box, as a reader would; expect lesson 03."""
    visit = _Visit(site_browser, site_url)
    try:
        visit.open("index.html")
        visit.page.locator("button.search-button__button:visible").first.click()
        field = visit.page.locator("form.bd-search input[name=q]:visible").first
        field.fill("throttle")
        field.press("Enter")
        visit.page.wait_for_url("**/search.html?q=throttle*", timeout=30_000)
        visit.page.wait_for_function("document.querySelectorAll('#search-results li').length > 0",
                                     timeout=30_000)
        visit.page.wait_for_load_state("networkidle", timeout=30_000)
        results = visit.page.evaluate(
            "[...document.querySelectorAll('#search-results li a')].map(a => a.getAttribute('href'))")
        visit.page.screenshot(path=str(screenshot_dir / "site-search-throttle.png"))
        SITE_SUMMARY.append(f"search 'throttle': {len(results)} results: "
                            + ", ".join(r.split("?")[0] for r in results[:12]))
    finally:
        visit.close()
    assert any("notebooks/03-throttling-per-source-type" in r for r in results), results
    assert not visit.console, visit.console
    assert not visit.external, visit.external
