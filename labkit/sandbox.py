"""Handler code and the module namespace each execution environment gives it.

On AWS every execution environment is its own process: the handler's module is
imported afresh, so module-level variables belong to that environment alone.
labkit reproduces this by compiling the handler's module source once and
executing it in a fresh namespace per environment (that run *is* the init
phase). Inside that namespace:

* ``print`` writes to the invocation's log rather than the notebook, and so does anything
  written to ``sys.stdout``/``sys.stderr`` while a run steps (``labkit.logcapture``);
* ``import time`` gives a clock and ``sleep`` that follow simulated time;
* ``import random`` gives a generator seeded per environment, so runs repeat;
* ``open("/tmp/...")``, the file functions of ``os`` and ``os.path`` (exists,
  getsize, remove, listdir, makedirs, walk, ...), ``io.open``, ``pathlib.Path``,
  ``shutil`` and ``sqlite3.connect`` use the environment's own ``/tmp``, and so
  does ``tempfile`` (``labkit.isolation``); ``os.environ`` is the environment's
  own, and what Lambda does not allow fails as there (``labkit.isolation``);
* modules the Lab registers in ``Account.module_overrides`` replace real ones
  (simulated AWS services behind ``import boto3``, for instance).

Other imported modules are shared by all simulated environments of a Lab (on
AWS they would not be); keep per-environment state in the handler's module.
"""

import builtins
import hashlib
import inspect
import io
import linecache
import os
import os.path as real_path
import pathlib
import random as _random
import shutil
import sqlite3
import time as _real_time
import traceback
import types

from . import bridge, isolation, logcapture
from .errors import SimulationError

_real_import = builtins.__import__
_real_open = builtins.open
_real_print = builtins.print

# Error types of the Python runtime (awslambdaric bootstrap.py).
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"



class HandlerCode:
    """A handler's module source, compiled once, ready to initialise environments."""

    def __init__(self, source, filename=None, handler_name="handler", module_name="lambda_function"):
        if filename is None:
            # Named by content, so re-deploying the same text (a widget re-running a
            # simulation) reuses one linecache entry instead of adding one each time.
            digest = hashlib.sha1(source.encode()).hexdigest()[:10]
            filename = f"<lambda:{module_name}:{digest}>"
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        self.source, self.filename = source, filename
        self.handler_name, self.module_name = handler_name, module_name
        try:
            self.code = compile(source, filename, "exec")
            self.syntax_error = None
        except SyntaxError as e:   # reported at init, as AWS does
            self.code = None
            self.syntax_error = e

    @classmethod
    def from_callable(cls, fn):
        """Use the module (file or notebook cell) that defines ``fn`` as the handler module."""
        if not callable(fn) or not hasattr(fn, "__code__"):
            raise SimulationError(f"a handler must be a Python function, got {fn!r}")
        filename = fn.__code__.co_filename
        lines = linecache.getlines(filename, fn.__globals__)
        if not lines:
            try:
                lines = inspect.getsource(inspect.getmodule(fn)).splitlines(True)
            except (OSError, TypeError):
                raise SimulationError(
                    f"cannot find the source of {fn.__name__}; pass the module text instead: "
                    "lab.function(source=..., handler_name='handler')") from None
        return cls("".join(lines), filename, fn.__name__)

    @property
    def handler_string(self):
        return f"{self.module_name}.{self.handler_name}"


class InitError(Exception):
    """Init failed; carries the runtime's errorType and errorMessage."""

    def __init__(self, error_type, message, stack=()):
        super().__init__(message)
        self.error_type, self.message, self.stack = error_type, message, list(stack)


_LABKIT_DIR = os.path.dirname(os.path.abspath(__file__))


def format_stack(tb):
    """stackTrace as awslambdaric builds it: ``traceback.format_list`` of the user's frames
    (labkit's own frames are left out, as the runtime leaves out bootstrap.py's)."""
    frames = [f for f in traceback.extract_tb(tb)
              if not os.path.abspath(f.filename).startswith(_LABKIT_DIR + os.sep)]
    return traceback.format_list(frames)


def _sim_time_module():
    m = types.ModuleType("time", "time, as seen by simulated handler code: simulated clock and sleep")
    for k in dir(_real_time):
        if not k.startswith("__"):
            setattr(m, k, getattr(_real_time, k))

    def _now_or(real):
        def f():
            act = bridge.current()
            return real() if act is None else act.lab.epoch + act.env.now
        return f

    def _rel_or(real):
        def f():
            act = bridge.current()
            return real() if act is None else act.env.now
        return f

    m.sleep = bridge.sleep
    m.time = _now_or(_real_time.time)
    m.time_ns = lambda: int(m.time() * 1e9)
    m.monotonic = _rel_or(_real_time.monotonic)
    m.perf_counter = _rel_or(_real_time.perf_counter)
    m.monotonic_ns = lambda: int(m.monotonic() * 1e9)
    m.perf_counter_ns = lambda: int(m.perf_counter() * 1e9)
    return m


SIM_TIME = _sim_time_module()


def _random_module(seed):
    rng = _random.Random(seed)
    m = types.ModuleType("random", "random, seeded per execution environment")
    for k in dir(_random):
        if not k.startswith("_"):
            setattr(m, k, getattr(_random, k))
    for k in ("random", "uniform", "randint", "randrange", "choice", "choices", "shuffle", "sample",
              "gauss", "normalvariate", "expovariate", "betavariate", "triangular", "getrandbits",
              "lognormvariate", "paretovariate", "weibullvariate", "vonmisesvariate", "gammavariate",
              "randbytes", "seed", "getstate", "setstate"):
        if hasattr(rng, k):
            setattr(m, k, getattr(rng, k))
    return m


_TMP_PATH_FUNCS = ("exists", "isfile", "isdir", "islink", "getsize", "getmtime", "getatime", "getctime", "lexists")
_TMP_OS_FUNCS = ("remove", "unlink", "listdir", "makedirs", "mkdir", "rmdir", "removedirs", "rename", "replace",
                 "stat", "lstat", "scandir", "open", "walk", "access", "chmod", "utime", "truncate", "readlink")
_TMP_SHUTIL_FUNCS = ("copyfile", "copymode", "copystat", "copy", "copy2", "copytree", "rmtree", "move", "disk_usage",
                     "make_archive", "unpack_archive", "chown")


def _mapped(real, ns, default=None):
    """``real`` with its first argument, a path, seen through the environment's /tmp."""
    def f(p=default, *args, **kwargs):
        return real(ns.map_path(p), *args, **kwargs)
    f.__name__ = getattr(real, "__name__", "f")
    return f


def _mapped_pair(real, ns):
    """``real(src, dst, ...)`` (rename, replace) with both paths seen through the environment's /tmp."""
    def f(a, b, *args, **kwargs):
        return real(ns.map_path(a), ns.map_path(b), *args, **kwargs)
    f.__name__ = getattr(real, "__name__", "f")
    return f


def _mapped_all(real, ns):
    """``real`` with every argument that is a path under /tmp seen through the environment's /tmp."""
    def f(*args, **kwargs):
        return real(*map(ns.map_path, args), **{k: ns.map_path(v) for k, v in kwargs.items()})
    f.__name__ = getattr(real, "__name__", "f")
    return f


def _module_copy(real, doc):
    mod = types.ModuleType(real.__name__, doc)
    mod.__dict__.update({k: v for k, v in vars(real).items() if not k.startswith("__")})
    return mod


def _putenv(key, value):
    """``os.putenv`` in handler code: it would change the process environment that only child
    processes see, and the simulator starts none; checked like the real one, then a no-op."""
    for x in (key, value):
        if not isinstance(x, (str, bytes)):
            raise TypeError(f"str expected, not {type(x).__name__}")
    if not key or "=" in os.fsdecode(key):
        raise ValueError("illegal environment variable name")


def _unsetenv(key):
    _putenv(key, "")


def _tmp_os_modules(ns):
    """``os`` and ``os.path`` for one environment: paths under /tmp go to its own /tmp."""
    path = types.ModuleType("os.path", "os.path with /tmp mapped to the execution environment's own /tmp")
    path.__dict__.update({k: v for k, v in vars(real_path).items() if not k.startswith("__")})
    for name in _TMP_PATH_FUNCS:
        setattr(path, name, _mapped(getattr(real_path, name), ns))
    mod = types.ModuleType("os", "os with /tmp mapped to the execution environment's own /tmp")
    mod.__dict__.update({k: v for k, v in vars(os).items() if not k.startswith("__")})
    for name in _TMP_OS_FUNCS:
        real = getattr(os, name)
        setattr(mod, name, _mapped_pair(real, ns) if name in ("rename", "replace") else _mapped(real, ns, "."))
    mod.putenv, mod.unsetenv = _putenv, _unsetenv   # os.environ itself is per environment (labkit.isolation)
    mod.path = path
    return mod, path


def _tmp_modules(ns, open_):
    """``io``, ``pathlib``, ``shutil`` and ``sqlite3`` for one environment, /tmp mapped likewise."""
    io_mod = _module_copy(io, "io with open() seeing the execution environment's own /tmp")
    io_mod.open = open_

    class PosixPath(type(pathlib.Path())):     # type: ignore[misc]
        """A path whose str() is what handler code wrote ("/tmp/x") and whose os.fspath(), which
        every file operation uses, is where it is: under the environment's own /tmp."""

        __slots__ = ()

        def __fspath__(self):
            return ns.map_path(str(self))

    path_mod = _module_copy(pathlib, "pathlib with Path seeing the execution environment's own /tmp")
    path_mod.Path = path_mod.PosixPath = PosixPath
    shutil_mod = _module_copy(shutil, "shutil with /tmp mapped to the execution environment's own /tmp")
    for name in _TMP_SHUTIL_FUNCS:
        setattr(shutil_mod, name, _mapped_all(getattr(shutil, name), ns))
    sqlite_mod = _module_copy(sqlite3, "sqlite3 with database files under the execution environment's own /tmp")
    sqlite_mod.connect = _mapped(sqlite3.connect, ns)
    return {"io": io_mod, "pathlib": path_mod, "shutil": shutil_mod, "sqlite3": sqlite_mod}


_TMP_MODULES = ("io", "pathlib", "shutil", "sqlite3")


class EnvironmentNamespace:
    """The module namespace of one execution environment, and its private ``/tmp``."""

    def __init__(self, code, tmp_dir_factory, random_seed, log_sink, module_overrides=None):
        self.code = code
        # Modules the Lab substitutes for handler imports (e.g. a boto3 wired to simulated
        # services). ``import a.b`` binds the top package, so register both "a" and "a.b".
        self.module_overrides = module_overrides if module_overrides is not None else {}
        self._tmp_dir_factory = tmp_dir_factory
        self._tmp_dir = None
        self._random_seed = random_seed
        self._log_sink = log_sink      # callable(line) for the running activation
        self.module = None
        self.handler = None
        self.environ = None            # its os.environ, made on first use (labkit.isolation)

    # -- /tmp -------------------------------------------------------------------
    def tmp_dir(self):
        if self._tmp_dir is None:
            with isolation.suspended():       # labkit creating it, maybe from inside handler code
                self._tmp_dir = self._tmp_dir_factory()
        return self._tmp_dir

    def map_path(self, path):
        """``path`` as the environment sees it: under /tmp, its own /tmp (a path already there,
        as ``tempfile`` or ``Path.resolve`` give, is left as it is)."""
        p = os.fspath(path) if isinstance(path, os.PathLike) else path
        if isinstance(p, str) and (p == "/tmp" or p.startswith("/tmp/")):
            own = self.tmp_dir()
            if p == own or p.startswith(own + os.sep):
                return p
            return os.path.join(own, p[5:])
        return path

    # -- builtins seen by the handler module ---------------------------------------------
    def _builtins(self):
        b = dict(builtins.__dict__)
        ns = self

        def _import(name, globals=None, locals=None, fromlist=(), level=0):
            if level == 0:
                if name == "time":
                    return SIM_TIME
                if name == "random":
                    return ns._random()
                if name in ("os", "os.path"):
                    os_mod, path_mod = ns._os()
                    return path_mod if (name == "os.path" and fromlist) else os_mod
                if name in _TMP_MODULES:
                    return ns._tmp_module(name)
                overrides = ns.module_overrides
                if overrides:
                    key = name if (fromlist or "." not in name) else name.partition(".")[0]
                    mod = overrides.get(key)
                    if mod is not None:
                        return mod
            return _real_import(name, globals, locals, fromlist, level)

        def _print(*args, sep=" ", end="\n", file=None, flush=False):
            act = bridge.current()
            lines = logcapture.lines_for(file) if act is not None else None
            if lines is None:
                _real_print(*args, sep=sep, end=end, file=file, flush=flush)
            else:   # to the invocation's log, also when no run captures sys.stdout (labkit.logcapture)
                text = (" " if sep is None else sep).join(map(str, args)) + ("\n" if end is None else end)
                logcapture.write(act, text, lines)

        def _open(file, *args, **kwargs):
            return _real_open(ns.map_path(file), *args, **kwargs)

        b["__import__"], b["print"], b["open"] = _import, _print, _open
        return b

    def _tmp_module(self, name):
        if not hasattr(self, "_tmp_mods"):
            self._tmp_mods = _tmp_modules(self, self.module["__builtins__"]["open"])
        return self._tmp_mods[name]

    def _os(self):
        if not hasattr(self, "_os_mods"):
            self._os_mods = _tmp_os_modules(self)
        return self._os_mods

    def _random(self):
        if not hasattr(self, "_random_mod"):
            self._random_mod = _random_module(self._random_seed)
        return self._random_mod

    # -- init --------------------------------------------------------------------------
    def run_init(self):
        """Execute the module (the function's init). Raises InitError on failure."""
        code = self.code
        if code.syntax_error is not None:
            e = code.syntax_error
            raise InitError(SYNTAX_ERROR, f"Syntax error in module '{code.module_name}': {e}",
                            [f'  File "{e.filename}" Line {e.lineno}\n    {(e.text or "").strip()}\n'])
        module = {"__name__": code.module_name, "__file__": code.filename,
                  "__builtins__": self._builtins(), "__doc__": None}
        self.module = module
        try:
            exec(code.code, module)
        except ImportError as e:
            raise InitError(IMPORT_MODULE_ERROR,
                            f"Unable to import module '{code.module_name}': {e}") from None
        except Exception as e:
            raise InitError(type(e).__name__, str(e), format_stack(e.__traceback__)) from None
        handler = module.get(code.handler_name)
        if not callable(handler):
            raise InitError(HANDLER_NOT_FOUND,
                            f"Handler '{code.handler_name}' missing on module '{code.module_name}'")
        self.handler = handler

    def reset(self):
        """Lambda's reset after a timeout or crash: globals go, ``/tmp`` stays."""
        self.module = None
        self.handler = None
        self.environ = None            # a new runtime process starts from the configured variables
        if hasattr(self, "_random_mod"):
            del self._random_mod
