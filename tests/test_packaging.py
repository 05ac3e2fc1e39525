"""The project's setup files agree with each other and with the layout the guide fixes."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _pyproject_requirements():
    # A regex rather than tomllib, which Python 3.10 lacks.
    text = (ROOT / "pyproject.toml").read_text()
    reqs = []
    for block in re.findall(r"^(?:dependencies|test|site) = \[(.*?)\]", text, flags=re.S | re.M):
        reqs.extend(re.findall(r'"([^"]+)"', block))
    assert reqs
    return {_name(r): _spec(r) for r in reqs}


def _environment_requirements():
    out = {}
    text = (ROOT / "environment.yml").read_text()
    deps = text.split("dependencies:", 1)[1]
    for line in deps.splitlines():
        m = re.match(r"^\s{2}- ([A-Za-z0-9_.\-]+)(.*)$", line)
        if m and m.group(1) not in ("python", "pip"):
            out[m.group(1).lower()] = m.group(2).strip()
    return out


def _name(req):
    return re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0].lower()


def _spec(req):
    return req[len(_name(req)):].strip()


def test_environment_yml_lists_the_same_packages_as_pyproject():
    assert _environment_requirements() == _pyproject_requirements()


def test_layout_is_as_the_guide_fixes_it():
    for path in ("notebooks", "labkit", "tests", "bench", "environment.yml", "README.md",
                 "pyproject.toml", "Makefile", ".ci/run"):
        assert (ROOT / path).exists(), path
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_importing_labkit_needs_no_aws_credentials_or_network(monkeypatch):
    import importlib
    import sys
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    for name in [m for m in sys.modules if m == "labkit" or m.startswith("labkit.")]:
        monkeypatch.delitem(sys.modules, name)
    lk = importlib.import_module("labkit")
    assert lk.Lab(seed=0).account.concurrency_limit == 1000


def test_environment_yml_installs_the_package_for_binder():
    # Binder (repo2docker) builds from the top-level environment.yml, unless a binder/ or
    # .binder/ folder exists; a local pip requirement (-e .) makes it copy the whole repository
    # before installing, so labkit is importable in every notebook.
    text = (ROOT / "environment.yml").read_text()
    pip_block = text.split("  - pip:", 1)[1]
    assert re.search(r"^\s+- -e \.\s*$", pip_block, flags=re.MULTILINE), "environment.yml must pip-install -e ."
    assert "jupyterlab" in _environment_requirements()   # the Binder links open JupyterLab (urlpath=lab/...)
    for folder in ("binder", ".binder"):
        assert not (ROOT / folder).exists(), f"{folder}/ would make Binder ignore the top-level environment.yml"


def test_binder_links_open_files_that_exist():
    import urllib.parse

    from labkit import site
    from labkit.site import conf

    assert re.fullmatch(r"https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", conf.REPOSITORY_URL)
    targets = [page.source for page in site.find_pages(ROOT)]
    assert any(t.startswith("notebooks/00-") for t in targets)
    for page in site.HERE.glob("*.md"):   # {labkit-binder} PATH directives in the site's own pages
        targets += re.findall(r"^```\{labkit-binder\} (\S+)", page.read_text(), flags=re.MULTILINE)
    for target in targets:
        url = urllib.parse.urlsplit(site.binder_url(conf.REPOSITORY_URL, conf.BINDER_REF, target))
        assert url.netloc == "mybinder.org"
        assert url.path == f"/v2/gh/{conf.REPOSITORY_URL.removeprefix('https://github.com/')}/{conf.BINDER_REF}"
        (urlpath,) = urllib.parse.parse_qs(url.query)["urlpath"]
        assert urlpath.startswith("lab/tree/"), urlpath
        assert (ROOT / urlpath.removeprefix("lab/tree/")).is_file(), f"a Binder link opens {urlpath}, which is missing"
