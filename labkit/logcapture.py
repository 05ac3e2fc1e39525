"""Output of handler code, captured per invocation: ``logging`` in the Python runtime's format,
and everything written to stdout and stderr (see ``capture_output``).

Lambda's Python runtime writes each log record as
``[LEVEL]\\t<UTC timestamp>Z\\t<request id>\\t<message>``. Levels behave as on AWS:
the root logger stays at WARNING unless the handler module changes it, so
``logger.info(...)`` shows only after ``logger.setLevel(logging.INFO)``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from . import bridge


class _InvocationLogHandler(logging.Handler):
    def emit(self, record):
        act = bridge.current()
        if act is None:
            # Outside simulated code: behave like logging's last-resort handler would
            # have, had this handler not been installed.
            if record.levelno >= logging.WARNING and len(logging.getLogger().handlers) == 1:
                sys.stderr.write(self.format(record) + "\n")
            return
        stamp = datetime.fromtimestamp(act.lab.epoch + act.env.now, timezone.utc)
        stamp = stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
        try:
            msg = record.getMessage()
        except Exception as e:   # a learner's bad format string is their log line, not our crash
            msg = f"{record.msg!r} (logging error: {e})"
        act.log.append(f"[{record.levelname}]\t{stamp}\t{act.request_id or ''}\t{msg}")


_HANDLER = None


def install():
    """Attach the capturing handler to the root logger once per process."""
    global _HANDLER
    if _HANDLER is None:
        _HANDLER = _InvocationLogHandler()
        logging.getLogger().addHandler(_HANDLER)


# -- stdout and stderr -------------------------------------------------------------------------------
# Lambda's Python runtime makes stdout and stderr unbuffered (``Unbuffered`` in awslambdaric's
# bootstrap.py, checked 2026-12-05) and the platform turns what the process writes into log lines,
# one per newline. labkit does the same per invocation: text written by simulated handler code goes
# to its invocation's log, a line at each "\n"; a line not yet ended stays open, so later writes to
# the same stream by the same invocation continue it (``print("a", end="")`` then ``print("b")`` is
# one line "ab"), and it is kept as it is when the invocation ends. Writes by the kernel's own code
# go to the real stream untouched.


class _Lines:
    """The open (unterminated) line of one stream: which log, and where in it."""

    __slots__ = ("log", "index")

    def __init__(self) -> None:
        self.log: list | None = None
        self.index = -1

    def write(self, log: list, text: str) -> None:
        first, *rest = text.split("\n")
        if self.log is log and self.index == len(log) - 1:
            log[-1] += first                  # continue the open line
        elif first or rest:
            log.append(first)
        log.extend(rest[:-1])
        if rest and rest[-1]:
            log.append(rest[-1])
        if not rest or rest[-1]:              # the text did not end with a newline: its last line is open
            self.log, self.index = log, len(log) - 1
        else:
            self.log, self.index = None, -1


STDOUT, STDERR = _Lines(), _Lines()


def write(act, text: str, lines: _Lines = STDOUT) -> int:
    """Write ``text`` to activation ``act``'s log as stdout (or ``lines``) would."""
    if not isinstance(text, str):
        raise TypeError(f"write() argument must be str, not {type(text).__name__}")
    if text:
        lines.write(act.log, text)
    return len(text)


def lines_for(file: Any) -> _Lines | None:
    """Which stream ``print(..., file=file)`` writes to: stdout for None or (the real or the
    captured) ``sys.stdout``, stderr likewise, None for any other file."""
    if file is None:
        return STDOUT
    for stream, real, lines in ((sys.stdout, sys.__stdout__, STDOUT), (sys.stderr, sys.__stderr__, STDERR)):
        if file is stream or file is real or (isinstance(stream, _StreamProxy) and file is stream._real):
            return lines
    return None


class _StreamProxy:
    """Stands in for ``sys.stdout``/``sys.stderr`` while a run steps the simulation: a write from
    simulated handler code goes to its invocation's log, anything else to the real stream."""

    def __init__(self, real: Any, lines: _Lines) -> None:
        self._real, self._lines = real, lines

    def write(self, text: str) -> int:
        act = bridge.current()
        if act is None:
            return self._real.write(text)
        return write(act, text, self._lines)

    def writelines(self, texts: Any) -> None:
        for text in texts:
            self.write(text)

    def flush(self) -> None:
        if bridge.current() is None:
            self._real.flush()

    def isatty(self) -> bool:
        return False if bridge.current() is not None else self._real.isatty()

    @property
    def buffer(self) -> Any:
        if bridge.current() is None:
            return self._real.buffer
        return _BinaryProxy(self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _BinaryProxy:
    """``sys.stdout.buffer`` for simulated handler code: bytes, decoded as UTF-8, to the log."""

    def __init__(self, text: _StreamProxy) -> None:
        self._text = text

    def write(self, data: bytes) -> int:
        self._text.write(bytes(data).decode("utf-8", errors="replace"))
        return len(data)

    def flush(self) -> None:
        pass


def capture_output() -> Callable[[], None]:
    """Route writes to ``sys.stdout``/``sys.stderr`` from simulated handler code to their
    invocation's log (see above) until the returned function is called, which puts back the
    streams as they were (also undoing handler code that replaced them)."""
    out, err = sys.stdout, sys.stderr
    if out is not None and not isinstance(out, _StreamProxy):
        sys.stdout = _StreamProxy(out, STDOUT)   # type: ignore[assignment]
    if err is not None and not isinstance(err, _StreamProxy):
        sys.stderr = _StreamProxy(err, STDERR)   # type: ignore[assignment]

    def restore() -> None:
        sys.stdout, sys.stderr = out, err
    return restore
