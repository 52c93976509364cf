"""Which calls run inline and which become recorded activities.

The rule: a call runs inline (and is simply replayed) when its target is
defined in the project's own code, is part of the Pawflow SDK, constructs an
object, or is a known-deterministic builtin or standard-library function.
Everything else -- third-party libraries, I/O, clocks, randomness -- is an
external call: it runs once as an activity and its result is recorded.
"""

from __future__ import annotations

import builtins
import enum
import io
import os
import sys
import time
import types
from collections.abc import Callable
from functools import partial
from typing import Any

from ..sdk._activity import activity_options
from ..sdk._noactivity import NoActivity

__all__ = ["CallKind", "classify", "describe"]


class CallKind(enum.Enum):
    INLINE = "inline"
    EXTERNAL = "external"
    PRINT = "print"
    SLEEP = "sleep"


# Standard-library modules whose functions compute only from their arguments.
# A module matches when it or a parent package is listed; C accelerator modules
# (``_json``, ``_heapq``...) match without their underscore.
_DETERMINISTIC_MODULES = frozenset(
    {
        "abc", "base64", "binascii", "bisect", "builtins", "calendar", "cmath", "codecs",
        "collections", "colorsys", "contextlib", "copy", "copyreg", "csv", "dataclasses",
        "datetime", "decimal", "difflib", "enum", "fnmatch", "fractions", "functools",
        "hashlib", "heapq", "hmac", "html", "inspect", "ipaddress", "itertools", "json",
        "keyword", "math", "numbers", "operator", "pprint", "re", "reprlib", "shlex",
        "sre_compile", "sre_parse", "statistics", "string", "struct", "textwrap", "types",
        "typing", "unicodedata", "urllib.parse", "uuid", "weakref", "zlib", "pawflow",
    }
)  # fmt: skip

# Functions of the modules above that read the clock, entropy or the terminal.
_NONDETERMINISTIC = frozenset(
    {
        "datetime.now", "datetime.utcnow", "datetime.today", "date.today",
        "uuid1", "uuid4", "input", "getpass",
    }
)  # fmt: skip

# Run inline although they touch the outside: ``sys.exit`` ends the program
# (recording it would make no sense), and a file object cannot be recorded --
# read a file inside an ``@pawflow.activity`` function to record its content.
_INLINE_SPECIALS = frozenset({sys.exit, io.open, builtins.open})

_BUILTIN_TYPES = (str, bytes, bytearray, int, float, complex, bool, list, tuple, dict, set,
                  frozenset, range, slice, memoryview, type(None))  # fmt: skip

_WRAPPER_TYPES = (
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
)


def _is_deterministic_module(name: str) -> bool:
    parts = name.lstrip("_").split(".")
    return any(".".join(parts[:i]) in _DETERMINISTIC_MODULES for i in range(1, len(parts) + 1))


def classify(fn: Any, project_prefix: str, no_activity: NoActivity | None = None) -> CallKind:
    """Decide how a call to ``fn`` runs inside a session of the project whose
    modules live under ``project_prefix`` (e.g. ``pawflow_dep_x.``), where
    ``no_activity`` holds what the session registered as deterministic."""
    if fn is builtins.print:
        return CallKind.PRINT
    if fn is time.sleep:
        return CallKind.SLEEP
    if fn in _INLINE_SPECIALS:
        return CallKind.INLINE
    if isinstance(fn, partial):
        return classify(fn.func, project_prefix, no_activity)
    if no_activity and no_activity.covers(fn, _origin(fn)[0]):
        return CallKind.INLINE
    if activity_options(fn) is not None:
        return CallKind.EXTERNAL
    if isinstance(fn, (type, *_WRAPPER_TYPES)):
        # Building an object (even of a library class) does no I/O by itself;
        # its methods are judged when they are called.
        return CallKind.INLINE
    if isinstance(fn, types.MethodType) and activity_options(fn.__func__) is not None:
        return CallKind.EXTERNAL
    if isinstance(fn, types.BuiltinFunctionType) and (
        fn.__self__ is os.environ or isinstance(fn.__self__, _BUILTIN_TYPES)
    ):
        return CallKind.INLINE
    module, name = _origin(fn)
    if module.startswith(project_prefix):
        return CallKind.INLINE
    if fn is os.getenv or (isinstance(fn, types.MethodType) and fn.__self__ is os.environ):
        return CallKind.INLINE
    if _is_deterministic_module(module) and not _is_nondeterministic(name):
        return CallKind.INLINE
    return CallKind.EXTERNAL


def _origin(fn: Any) -> tuple[str, str]:
    """(module, qualified name) of where ``fn`` is defined."""
    if isinstance(fn, types.MethodType):
        func = fn.__func__
        return getattr(func, "__module__", None) or "", getattr(func, "__qualname__", "")
    if isinstance(fn, types.BuiltinFunctionType):
        owner = fn.__self__
        if isinstance(owner, types.ModuleType):
            return owner.__name__, fn.__qualname__
        if isinstance(owner, type):
            return owner.__module__, fn.__qualname__
        return type(owner).__module__, fn.__qualname__
    if isinstance(fn, types.FunctionType):
        return fn.__module__ or "", fn.__qualname__
    # Some other callable object (or a class): judge it by its class.
    if isinstance(fn, type):
        return fn.__module__, fn.__qualname__
    return type(fn).__module__, type(fn).__qualname__


def _is_nondeterministic(qualname: str) -> bool:
    return qualname in _NONDETERMINISTIC or qualname.rpartition(".")[2] in _NONDETERMINISTIC


# C modules that users know by the name of the module re-exporting them.
_PUBLIC_NAMES = {"posix": "os", "_random": "random", "_socket": "socket", "_io": "io"}


def describe(fn: Callable[..., Any], project_prefix: str) -> str:
    """A readable name for logs: ``requests.api.get``, ``Session.get``, ``program.charge``."""
    if isinstance(fn, partial):
        return describe(fn.func, project_prefix)
    owner = getattr(fn, "__self__", None)
    qualname = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    if owner is not None and not isinstance(owner, types.ModuleType):
        return qualname
    module = getattr(fn, "__module__", None) or ""
    module = _PUBLIC_NAMES.get(module, module)
    if module.startswith("pawflow.sdk"):
        module = "pawflow"  # as user code spells it: pawflow.start(...)
    if module.startswith(project_prefix):
        module = module[len(project_prefix) :]
    return f"{module}.{qualname}" if module and module != "builtins" else qualname
