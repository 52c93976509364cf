"""A deployment's code, loaded under a module namespace of its own.

Two projects that both have ``program.py`` must never see each other's
modules, and a session must keep running the code of the deployment it started
on after a redeploy. So each deployment's modules are registered as
``pawflow_dep_<deployment id>.<module>``; inside the project, ``import program``
still works because the modules get their own ``__import__`` that maps the
project's top-level names into that namespace. The namespaced names are the
same on every worker, so recorded results that pickle project classes load
anywhere.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.machinery
import importlib.util
import inspect
import re
import sys
import threading
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..manifest import CallTarget
from ._rewrite import CALL_HOOK, rewrite_module

__all__ = ["DeploymentCode", "handler_arguments", "namespace_for", "user_names"]

_NAMESPACE = "pawflow_dep_"
# A deployment's namespace followed by the dot before a module's name.
_NAMESPACED = re.compile(re.escape(_NAMESPACE) + r"[A-Za-z0-9_]+\.")


def namespace_for(deployment_id: str) -> str:
    return _NAMESPACE + "".join(c if c.isalnum() else "_" for c in deployment_id)


def user_names(text: str) -> str:
    """``text`` with every deployment namespace cut from the names in it, so that
    messages name modules as the user wrote them: ``program.Box``."""
    return _NAMESPACED.sub("", text) if _NAMESPACE in text else text


class DeploymentCode:
    """The modules of one deployment, loaded lazily from ``root``.

    ``call_hook`` is what ``__pawflow_call__`` resolves to inside these modules.
    ``load_scope`` wraps module execution (it gives module-level code the
    deployment's vars).
    """

    def __init__(
        self,
        deployment_id: str,
        root: Path,
        call_hook: Callable[..., Any],
        run_module_code: Callable[[Callable[[], None]], None],
    ) -> None:
        self.deployment_id = deployment_id
        self.root = root
        self.namespace = namespace_for(deployment_id)
        self.prefix = self.namespace + "."
        self._run_module_code = run_module_code
        self._lock = threading.RLock()
        self._local = frozenset(self._top_level_names())
        self._builtins = dict(builtins.__dict__)
        self._builtins["__import__"] = self._import
        self._builtins[CALL_HOOK] = call_hook
        package = types.ModuleType(self.namespace)
        package.__path__ = []
        package.__package__ = self.namespace
        sys.modules[self.namespace] = package

    def _top_level_names(self) -> set[str]:
        names = set()
        for entry in self.root.iterdir():
            if not entry.stem.isidentifier():
                continue
            if entry.suffix == ".py" and entry.is_file():
                names.add(entry.stem)
            elif entry.is_dir() and (entry / "__init__.py").is_file():
                names.add(entry.name)
            elif entry.is_dir() and _importable_elsewhere(entry.name) is False:
                # A folder without __init__.py is a namespace package, and as in
                # Python itself it only counts when no real package has the name.
                names.add(entry.name)
        return names

    def handler(self, target: CallTarget) -> Callable[..., Any]:
        """The function named by a manifest ``call``, e.g. ``program.py:on_greet``."""
        module_name = target.file.removesuffix(".py").replace("/", ".")
        if module_name.endswith(".__init__"):
            module_name = module_name.removesuffix(".__init__")
        module = self.import_module(module_name)
        fn = getattr(module, target.function, None)
        if not callable(fn):
            raise AttributeError(f"{target.file} has no function {target.function!r}")
        return fn

    def import_module(self, name: str) -> types.ModuleType:
        """Import the project module ``name`` (``program``, ``pkg.sub``) and its parents."""
        with self._lock:
            parts = name.split(".")
            module: types.ModuleType | None = None
            for i in range(1, len(parts) + 1):
                module = self._load_one(".".join(parts[:i]))
            assert module is not None
            return module

    def _load_one(self, name: str) -> types.ModuleType:
        full = f"{self.prefix}{name}"
        existing = sys.modules.get(full)
        if existing is not None:
            return existing
        rel = Path(*name.split("."))
        path: Path | None
        if (self.root / rel / "__init__.py").is_file():
            path, is_package = self.root / rel / "__init__.py", True
        elif (self.root / rel.with_suffix(".py")).is_file():
            path, is_package = self.root / rel.with_suffix(".py"), False
        elif (self.root / rel).is_dir():
            path, is_package = None, True  # a namespace package: a folder of modules
        else:
            raise ModuleNotFoundError(f"No module named {name!r} in the project", name=name)
        module = types.ModuleType(full)
        module.__package__ = full if is_package else full.rpartition(".")[0]
        module.__spec__ = importlib.machinery.ModuleSpec(
            full, None, origin=str(path) if path else None, is_package=is_package
        )
        if is_package:
            module.__path__ = [str(self.root / rel)]
        module.__dict__["__builtins__"] = self._builtins
        if path is None:
            sys.modules[full] = module
            self._attach(full, module)
            return module
        module.__file__ = str(path)
        # decode_source honours a "# -*- coding: ... -*-" line, as Python does.
        source = importlib.util.decode_source(path.read_bytes())
        code = compile(rewrite_module(source, str(path)), str(path), "exec")
        sys.modules[full] = module
        try:
            self._run_module_code(lambda: exec(code, module.__dict__))
        except BaseException:
            del sys.modules[full]
            raise
        self._attach(full, module)
        return module

    def _attach(self, full: str, module: types.ModuleType) -> None:
        parent, _, child = full.rpartition(".")
        if parent != self.namespace:
            setattr(sys.modules[parent], child, module)

    def _import(
        self,
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        fromlist: tuple[str, ...] | list[str] | None = (),
        level: int = 0,
    ) -> types.ModuleType:
        if level > 0:
            package = (globals or {}).get("__package__") or ""
            if not package.startswith(self.namespace):
                return builtins.__import__(name, globals, locals, fromlist, level)
            base = package[len(self.prefix) :].split(".") if package != self.namespace else []
            if level - 1 > len(base):
                raise ImportError("attempted relative import beyond the project root")
            base = base[: len(base) - (level - 1)]
            name = ".".join([*base, name] if name else base)
        elif name.partition(".")[0] not in self._local:
            return builtins.__import__(name, globals, locals, fromlist, level)
        if not name:
            raise ImportError("attempted relative import beyond the project root")
        module = self.import_module(name)
        if not fromlist:
            return sys.modules[self.prefix + name.partition(".")[0]] if level == 0 else module
        for item in fromlist:
            if item != "*" and not hasattr(module, item) and hasattr(module, "__path__"):
                # A missing one is left for the from-import to report as usual.
                with contextlib.suppress(ModuleNotFoundError):
                    self.import_module(f"{name}.{item}")
        return module

    def unload(self) -> None:
        """Forget every module of this deployment."""
        with self._lock:
            for key in [k for k in sys.modules if k == self.namespace or k.startswith(self.prefix)]:
                del sys.modules[key]


def handler_arguments(
    handler: Callable[..., Any], event: Any, session_id: str
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """How ``handler`` is called: with the event, and the session id when it
    has a parameter ``session_id`` (``def on_x(event, session_id)``).

    The signature is read through decorators that keep ``__wrapped__``
    (``functools.wraps``), as ``inspect`` does.
    """
    try:
        parameters = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):  # no signature to read: the event only
        return (event,), {}
    names = [p.name for p in parameters]
    if "session_id" not in names:
        return (event,), {}
    at = names.index("session_id")
    kind = parameters[at].kind
    if at == 1 and kind in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        return (event, session_id), {}
    if kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
        return (event,), {"session_id": session_id}
    return (event,), {}  # *session_id or **session_id: not the session id


def _importable_elsewhere(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
