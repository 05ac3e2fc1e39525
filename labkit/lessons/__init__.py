"""Support code of the lesson notebooks: one package per lesson.

``labkit.lessons.lessonNN`` holds everything lesson NN needs, and only that lesson's content:

* ``handlers/``: the handler modules the lesson deploys, as real ``def handler(event, context)``
  files. labkit never imports them: the lesson reads each file's text (``handler_source``) and
  deploys that text into a Lab, and the notebook shows the same text in a cell of its own.
* ``experiments.py``: pure functions that build a seeded Lab, run it and return plain data.
* ``figures.py``: the lesson's plots and its widget's redraw function.
* ``exercises.py``: the ``Exercise`` objects with their checkers, hints and solutions.
* ``__init__.py``: re-exports the names the notebook uses (``lesson01.counter_race``, ...).

Within a lesson the imports go one way only: handlers' texts <- experiments <- figures <-
exercises <- ``__init__``.
"""

from importlib import resources


def handler_source(package: str, filename: str) -> str:
    """The text of the handler module ``filename`` shipped in ``package`` (a lesson's
    ``handlers`` package), exactly as written: what a Lab deploys and the notebook shows."""
    return resources.files(package).joinpath(filename).read_text(encoding="utf-8")


__all__ = ["handler_source"]
