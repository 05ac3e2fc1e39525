"""Honest isolation of simulated handler code: what it must not reach fails as on Lambda, or clearly.

Handler code runs inside the notebook kernel's own process (in greenlets, see
``labkit.bridge``), so without help it could reach what a Lambda function cannot: the
real network (and with it real AWS and a learner's real credentials), other processes,
the notebook folder, the kernel's environment variables. ``install()`` (called once by
``labkit.kernel.install``) adds, for the whole process:

* one audit hook (``sys.addaudithook``) that acts only while simulated handler code runs
  (``bridge.current()`` is not None) and refuses:

  - the real network: ``socket.connect``/``bind``/``sendto``/``sendmsg``/``getaddrinfo``/
    ``gethostbyname``/... fail with ``ConnectionRefusedError`` naming labkit and the
    simulated services to use (a real botocore client, ``requests``, ``http.client`` all
    fail at their first connection); a line saying so also goes to the invocation's log,
    since libraries wrap the error in their own;
  - processes: ``subprocess``, ``os.system``, ``os.exec*``, ``os.posix_spawn``,
    ``os.fork``, ``os.kill`` fail with ``PermissionError``;
  - writes outside the environment's own ``/tmp`` (opening a file for writing, ``os.remove``,
    ``rename``, ``mkdir``, ``rmdir``, ``chmod``, ``utime``, ``truncate``, ``link``,
    ``symlink``, ``shutil`` copies, moves and deletions, a sqlite3 database file) fail with
    the error Lambda gives there, ``OSError: [Errno 30] Read-only file system: '<path>'``;
    a write to the machine's real ``/tmp`` (a library that bypassed the mapping of
    ``labkit.sandbox``) fails with a clear ``PermissionError`` instead, since ``/tmp`` is
    writable on Lambda; reading stays allowed;
  - ``os.chdir`` (it would move the kernel's working directory) and ``os.putenv``/
    ``os.unsetenv`` called directly (they would change the kernel's process environment);

* ``os.environ`` per execution environment: the kernel's ``os.environ`` object dispatches,
  while handler code runs, to its environment's own variables: Lambda's reserved ones
  (``environment_variables``) and the function's ``environment={...}``; writes change only
  that environment's, which a reset re-initialises (a new runtime process on AWS). Outside
  handler code it is the kernel's, unchanged. ``os.getenv`` reads through it.

* ``time.sleep`` called by library code inside a handler (botocore's retry backoff, for
  one) spends simulated time, and ``tempfile`` puts temporary files in the environment's
  own ``/tmp``: both dispatch on ``bridge.current()`` and are the real functions otherwise.

This is not a security sandbox: code determined to escape it (ctypes, ``os.write`` on a file
descriptor, saving a real function before labkit wraps it, ...) can. It exists so that
honest mistakes behave as on Lambda and never touch real AWS, the network or the notebook
folder. Outside simulated handler code nothing changes: the hook returns at its first test.
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from . import bridge, facts

_current = bridge.current
_O_WRITE = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_ALWAYS_WRITABLE = ("/dev/null",)


def _process_state() -> Any:
    """State shared by every copy of this module in the process (labkit imported afresh, as a
    test does, must not stack a second set of wrappers on the first): kept on ``sys``."""
    state = getattr(sys, "_labkit_isolation", None)
    if state is None:
        state = types.SimpleNamespace(
            suspended=0,            # > 0 while labkit itself creates an environment's /tmp in handler code
            hook=None,              # the audit hook of the copy installed last
            real_sleep=time.sleep, real_gettempdir=tempfile.gettempdir, real_gettempdirb=tempfile.gettempdirb,
            real_tmp=None)          # the machine's temporary folder
        sys._labkit_isolation = state      # type: ignore[attr-defined]
    return state


_STATE = _process_state()
_installed = False

# Placeholders for the execution role's credentials: visibly fake, never the kernel's real ones.
FAKE_ACCESS_KEY_ID = "LABKITSIMULATEDNOTAREALKEY"
FAKE_SECRET_ACCESS_KEY = "labkit-simulated-not-a-real-secret-key"
FAKE_SESSION_TOKEN = "labkit-simulated-not-a-real-session-token"

NETWORK_ADVICE = ("handler code runs in labkit's simulator and cannot reach the real network or real AWS. "
                  "Use the Lab's simulated services: boto3 (lab.dynamodb_table, Lambda invoke), "
                  "urllib.request.urlopen (lab.reference_service), pymysql (lab databases)")


@contextmanager
def suspended() -> Iterator[None]:
    """Let labkit's own code do, inside handler code, what handler code may not (create its /tmp)."""
    _STATE.suspended += 1
    try:
        yield
    finally:
        _STATE.suspended -= 1


# -- environment variables -------------------------------------------------------------------------------

def environment_variables(ee: Any) -> dict[str, str]:
    """The variables handler code of execution environment ``ee`` starts with: the runtime's,
    the ones Lambda reserves, then the function's own (which may override unreserved ones)."""
    fn = ee.function
    cfg = fn.config
    region = fn.account.region
    env = dict(facts.ENV_VARS_RUNTIME)
    env.update({
        "_HANDLER": fn.code.handler_string,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}",
        "AWS_LAMBDA_FUNCTION_NAME": cfg.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(cfg.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": cfg.version,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency" if ee.provisioned else "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{cfg.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": ee.log_stream_name,
        "AWS_ACCESS_KEY": FAKE_ACCESS_KEY_ID,
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
        "AWS_SESSION_TOKEN": FAKE_SESSION_TOKEN,
    })
    env.update(cfg.environment or {})
    return env


def _environ_of(act: Any) -> dict[str, str] | None:
    ee = act.environment
    ns = ee.namespace if ee is not None else None
    if ns is None:
        return None
    env = ns.environ
    if env is None:
        env = ns.environ = environment_variables(ee)
    return env


def _sim_environ() -> dict[str, str] | None:
    act = _current()
    return None if act is None else _environ_of(act)


_Environ: Any = os._Environ   # type: ignore[attr-defined]


class _DispatchingEnviron(_Environ):
    """``os.environ``'s class once labkit is installed: the kernel's variables, except while
    simulated handler code runs, when it is that execution environment's own."""

    def __getitem__(self, key):
        env = _sim_environ()
        return super().__getitem__(key) if env is None else env[key]

    def __setitem__(self, key, value):
        env = _sim_environ()
        if env is None:
            return super().__setitem__(key, value)
        for x, what in ((key, "key"), (value, "value")):
            if not isinstance(x, str):
                raise TypeError(f"str expected, not {type(x).__name__}")
            if "\0" in x or (what == "key" and ("=" in x or not x)):
                raise ValueError(f"illegal environment variable name: {key!r}" if what == "key"
                                 else "embedded null byte")
        env[key] = value

    def __delitem__(self, key):
        env = _sim_environ()
        if env is None:
            return super().__delitem__(key)
        del env[key]

    def __iter__(self):
        env = _sim_environ()
        return super().__iter__() if env is None else iter(list(env))

    def __len__(self):
        env = _sim_environ()
        return super().__len__() if env is None else len(env)

    def __repr__(self):
        env = _sim_environ()
        return super().__repr__() if env is None else f"environ({env!r})"

    def copy(self):
        env = _sim_environ()
        return super().copy() if env is None else dict(env)


def _putenv_refused(*args: Any) -> None:
    raise PermissionError(errno.EPERM, "labkit: os.putenv/os.unsetenv in handler code would change the notebook "
                          "kernel's process environment; set os.environ[...] instead (it belongs to the "
                          "execution environment)")


# -- the audit hook -------------------------------------------------------------------------------------

def _note(act: Any, text: str) -> None:
    act.log.append(f"[labkit] {text}")


def _network(act: Any, event: str, args: tuple) -> None:
    target = args[1] if len(args) > 1 and event in ("socket.connect", "socket.bind", "socket.sendto") else args[:2]
    what = f"{event}{target!r}" if isinstance(target, tuple) else f"{event}({target!r})"
    _note(act, f"refused {what}: {NETWORK_ADVICE}")
    raise ConnectionRefusedError(errno.ECONNREFUSED, f"labkit refused {what}: {NETWORK_ADVICE}")


def _process(act: Any, event: str, args: tuple) -> None:
    _note(act, f"refused {event}: handler code cannot start or signal processes in labkit's simulator")
    raise PermissionError(errno.EPERM, f"labkit refused {event}: handler code cannot start or signal processes "
                          "in the simulator (on AWS a function may, in its own sandbox)")


def _writable(act: Any, path: Any) -> None:
    """Raise as Lambda would if ``path`` may not be written by ``act``'s handler code."""
    if isinstance(path, int):         # a file descriptor already open
        return
    try:
        p = os.fsdecode(path)
    except TypeError:
        return
    if p in _ALWAYS_WRITABLE:
        return
    if not os.path.isabs(p):
        # Relative to the function's working directory, /var/task on Lambda: read-only there,
        # wherever the notebook itself runs.
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), p)
    full = os.path.abspath(p)
    ee = act.environment
    ns = ee.namespace if ee is not None else None
    own = ns._tmp_dir if ns is not None else None
    if own is not None and (full == own or full.startswith(own + os.sep)):
        return
    if full == "/tmp" or full.startswith("/tmp/") or full.startswith(_STATE.real_tmp + os.sep):
        raise PermissionError(errno.EACCES, "labkit: this writes to the machine's real /tmp, not the execution "
                              "environment's own (open, io, os, os.path, pathlib, shutil, tempfile and sqlite3 "
                              "used by the handler module map /tmp to it)", p)
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), p)    # Lambda: only /tmp is writable


def _open(act: Any, event: str, args: tuple) -> None:
    path, mode, flags = args
    if mode is None:
        writing = bool(flags & _O_WRITE)
    else:
        writing = any(c in mode for c in "wax+")
    if writing:
        _writable(act, path)


def _first_path(act: Any, event: str, args: tuple) -> None:
    _writable(act, args[0])


def _two_paths(act: Any, event: str, args: tuple) -> None:
    _writable(act, args[0])
    _writable(act, args[1])


def _second_path(act: Any, event: str, args: tuple) -> None:
    _writable(act, args[1])


def _sqlite(act: Any, event: str, args: tuple) -> None:
    db = args[0]
    if isinstance(db, (str, bytes, os.PathLike)):
        name = os.fsdecode(db)
        if name and name != ":memory:" and not name.startswith("file:"):
            _writable(act, name)


def _chdir(act: Any, event: str, args: tuple) -> None:
    raise PermissionError(errno.EPERM, "labkit: os.chdir in handler code would move the notebook kernel's working "
                          "directory; use absolute paths (on Lambda the working directory is /var/task)")


def _putenv(act: Any, event: str, args: tuple) -> None:
    _putenv_refused()


_NETWORK_EVENTS = ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
                   "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo", "socket.gethostname")
_PROCESS_EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                   "os.forkpty", "os.kill", "os.killpg", "pty.spawn", "os.startfile", "signal.pthread_kill")
_HANDLERS: dict[str, Callable[[Any, str, tuple], None]] = {
    **{e: _network for e in _NETWORK_EVENTS if e != "socket.gethostname"},
    **{e: _process for e in _PROCESS_EVENTS},
    "open": _open,
    "os.remove": _first_path, "os.rmdir": _first_path, "os.mkdir": _first_path, "os.chmod": _first_path,
    "os.chown": _first_path, "os.utime": _first_path, "os.truncate": _first_path, "os.chflags": _first_path,
    "os.lchflags": _first_path, "os.setxattr": _first_path, "os.removexattr": _first_path,
    "os.mkfifo": _first_path, "os.mknod": _first_path,
    "os.rename": _two_paths, "os.link": _two_paths, "shutil.move": _two_paths,
    "os.symlink": _second_path, "shutil.copyfile": _second_path, "shutil.copymode": _second_path,
    "shutil.copystat": _second_path, "shutil.copytree": _second_path,
    "shutil.rmtree": _first_path, "shutil.chown": _first_path,
    "shutil.unpack_archive": _second_path, "shutil.make_archive": _first_path,
    "sqlite3.connect": _sqlite,
    "os.chdir": _chdir,
    "os.putenv": _putenv, "os.unsetenv": _putenv,
}
_get = _HANDLERS.get


def _hook(event: str, args: tuple) -> None:
    handler = _get(event)
    if handler is None:
        return
    act = _current()
    if act is None or _STATE.suspended:
        return
    handler(act, event, args)


def _process_hook(event: str, args: tuple) -> None:
    """The one audit hook of the process: the hook of the copy of this module installed last."""
    _STATE.hook(event, args)


# -- library functions that follow simulated time and the environment's /tmp ------------------------------

_real_sleep = _STATE.real_sleep
_real_gettempdir = _STATE.real_gettempdir
_real_gettempdirb = _STATE.real_gettempdirb


def _sleep(seconds: float) -> None:
    """``time.sleep``: simulated inside handler code (see ``labkit.bridge.sleep``), real elsewhere."""
    if _current() is None:
        _real_sleep(seconds)
    else:
        bridge.sleep(seconds)


def _own_tmp() -> str | None:
    act = _current()
    if act is None or _STATE.suspended or act.environment is None or act.environment.namespace is None:
        return None
    return act.environment.namespace.tmp_dir()


def _gettempdir() -> str:
    own = _own_tmp()
    return _real_gettempdir() if own is None else own


def _gettempdirb() -> bytes:
    own = _own_tmp()
    return _real_gettempdirb() if own is None else os.fsencode(own)


def install() -> None:
    """Install the hook and the dispatchers above, once per process (see the module docstring)."""
    global _installed
    if _installed:
        return
    _installed = True
    if _STATE.real_tmp is None:
        _STATE.real_tmp = _real_gettempdir()    # before the hook: finding it writes a probe file
    os.environ.__class__ = _DispatchingEnviron
    time.sleep = _sleep   # type: ignore[assignment]
    tempfile.gettempdir = _gettempdir
    tempfile.gettempdirb = _gettempdirb
    first = _STATE.hook is None
    _STATE.hook = _hook
    if first:
        sys.addaudithook(_process_hook)
