"""The course site's sources (labkit/site/): what the build stages, and that new lessons and the
instructor edition are picked up by themselves. tests/browser/test_site.py checks the real site
in a browser; here a small fake course is built (when Sphinx is installed)."""

import json
import pathlib
import shutil
import subprocess
import sys

import pytest

from labkit import site

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _notebook(title, *, image=False):
    cells = [{"cell_type": "markdown", "id": "a1", "metadata": {},
              "source": [f"# {title}\n", "\n", "Some text about a **throttle**.\n"]},
             {"cell_type": "code", "id": "a2", "metadata": {}, "execution_count": 1,
              "source": ["print('hello')"],
              "outputs": [{"output_type": "stream", "name": "stdout", "text": ["hello\n"]}]}]
    if image:   # a 1x1 PNG, as a figure output
        png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
        cells[1]["outputs"].append({"output_type": "display_data", "metadata": {},
                                    "data": {"image/png": png, "text/plain": ["<Figure>"]}})
    return json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5,
                       "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                   "language": "python"}}})


@pytest.fixture
def fake_course(tmp_path):
    """A checkout with the real README and lessons, a future lesson 99 and an instructor edition."""
    (tmp_path / "notebooks" / "instructor").mkdir(parents=True)
    shutil.copy2(ROOT / "README.md", tmp_path / "README.md")
    for nb in (ROOT / "notebooks").glob("*.ipynb"):   # they link to each other
        shutil.copy2(nb, tmp_path / "notebooks" / nb.name)
    (tmp_path / "notebooks" / "99-a-future-lesson.ipynb").write_text(
        _notebook("Lambda Concurrency Lab · 99 A future lesson", image=True))
    (tmp_path / "notebooks" / "instructor" / "00-welcome.ipynb").write_text(
        _notebook("Lambda Concurrency Lab · 00 Welcome, instructor notes"))
    (tmp_path / "notebooks" / "instructor" / "workshop-plan.md").write_text(
        "# Workshop plan\n\nA 3½-hour plan: start with [the welcome](../00-welcome.ipynb).\n")
    (tmp_path / "notebooks" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "notebooks" / ".ipynb_checkpoints" / "00-welcome-checkpoint.ipynb").write_text("{}")
    return tmp_path


def test_the_readme_gives_the_overview_every_lesson_row_and_the_workshop_path():
    parts = site.readme_parts((ROOT / "README.md").read_text())
    assert "Learn, by experiment" in parts["overview"]
    assert parts["workshop"].startswith("**For instructors.**")
    stems = {p.stem for p in site.find_pages(ROOT) if p.section.key == "lessons"}
    assert stems and stems <= set(parts["rows"]), "a lesson has no row in the README's lessons table"


def test_a_readme_without_its_lessons_table_is_an_error():
    with pytest.raises(ValueError, match="Lessons"):
        site.readme_parts("# Title\n\nOverview.\n\n## Setup\n\ntext\n")


def test_new_lessons_and_the_instructor_edition_are_picked_up(fake_course):
    pages = site.stage(fake_course)
    staging = fake_course / site.STAGING
    names = [p.docname for p in pages]
    lessons = sorted(f"notebooks/{nb.stem}" for nb in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    assert names == [*lessons, "notebooks/99-a-future-lesson", "notebooks/instructor/00-welcome",
                     "notebooks/instructor/workshop-plan"]
    assert pages[names.index("notebooks/99-a-future-lesson")].title == "99 A future lesson"
    for p in pages:
        assert (staging / (p.docname + p.suffix)).is_file()
    index = (staging / "index.md").read_text()
    assert ":caption: Instructor edition" in index
    assert "notebooks/instructor/workshop-plan" in index
    assert "[99 A future lesson](notebooks/99-a-future-lesson.ipynb) | — | — |" in index
    pages_json = json.loads((staging / site.PAGES_JSON).read_text())
    assert pages_json["notebooks/instructor/00-welcome"]["section"] == "Instructor edition"


def test_without_an_instructor_edition_there_is_no_empty_section(fake_course):
    shutil.rmtree(fake_course / "notebooks" / "instructor")
    site.stage(fake_course)
    assert "Instructor edition" not in (fake_course / site.STAGING / "index.md").read_text()


def test_binder_url():
    url = site.binder_url("https://github.com/o/r", "main", "notebooks/00-welcome.ipynb")
    assert url == "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/notebooks/00-welcome.ipynb"
    with pytest.raises(ValueError):
        site.binder_url("https://example.org/o/r", "main")


def test_the_fake_course_builds_warning_free_with_its_new_pages(fake_course):
    for module in ("sphinx", "myst_nb", "sphinx_book_theme", "latex2mathml"):
        pytest.importorskip(module, reason="the site extra is not installed (pip install -e '.[site]')")
    proc = subprocess.run([sys.executable, "-m", "labkit.site", "--root", str(fake_course)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = fake_course / site.OUTPUT
    assert site.is_fresh(fake_course)
    lesson = (out / "notebooks" / "99-a-future-lesson.html").read_text()
    assert "urlpath=lab/tree/notebooks/99-a-future-lesson.ipynb" in lesson
    assert "_images/" in lesson   # the stored figure
    instructor = (out / "notebooks" / "instructor" / "workshop-plan.html").read_text()
    assert "urlpath=lab/tree/notebooks/instructor/workshop-plan.md" in instructor
    index = (out / "index.html").read_text()
    assert "Instructor edition" in index and "notebooks/instructor/00-welcome.html" in index
    (fake_course / "notebooks" / "99-a-future-lesson.ipynb").write_text(_notebook("# changed"))
    assert not site.is_fresh(fake_course)
