"""Check ``call`` targets (``path/to/file.py:function``) against the project's source.

The user's file is parsed with :mod:`ast`, never imported: loading a manifest
must not run user code.
"""

from __future__ import annotations

import ast
import posixpath
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import ManifestError
from ._model import CallTarget

__all__ = ["CallChecker", "CallSite", "check_call_format"]

_FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True, slots=True)
class CallSite:
    """Where a ``call`` is written: the manifest's display name, line and key."""

    file: str
    line: int | None
    key: str

    def error(self, message: str) -> ManifestError:
        return ManifestError(message, file=self.file, line=self.line, key=self.key)


def check_call_format(target: CallTarget, site: CallSite) -> None:
    """Reject paths that are absolute, use backslashes, leave the project directory,
    are not in normal form (``./x.py``, ``a//x.py``, ``a/../x.py``) or cannot be
    imported as a module (``my-code.py``).

    (Drive letters cannot occur: the schema allows no ':' in the file part.)
    """
    path = target.file
    if "\\" in path:
        # Quoted as written where that is safe: repr() would double every backslash.
        shown = f"'{path}'" if path.isprintable() else repr(path)
        raise site.error(f"use '/' instead of '\\' in the path {shown}")
    if path.startswith("/"):
        raise site.error(f"{path!r} must be relative to the project directory")
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        raise site.error(f"{path!r} is outside the project directory")
    # One spelling per file: the runtime derives module names from this path.
    if normal != path:
        raise site.error(f"write the path {path!r} as {normal!r}")
    if not all(part.isidentifier() for part in path.removesuffix(".py").split("/")):
        raise site.error(
            f"{path!r} cannot be imported as a module: use Python identifiers "
            "(letters, digits, '_') for its folders and file name"
        )


class CallChecker:
    """Checks call targets of one project; each source file is parsed once."""

    def __init__(self, root: Path, display_dir: str) -> None:
        self._root = root
        self._display_dir = display_dir
        self._trees: dict[str, ast.Module] = {}

    def check(self, target: CallTarget, site: CallSite) -> None:
        """Raise a :class:`ManifestError` unless ``target`` names a plain top-level
        ``def`` that can be called with one positional argument, the event (and
        the session id, when it names a parameter ``session_id``)."""
        tree = self._parse(target.file, site)
        name, where = target.function, target.file
        binding = _top_level_binding(tree, name)
        if binding is None:
            nested = _nested_function(tree, name)
            if nested is not None:
                raise site.error(
                    f"function {name!r} ({where}:{nested.lineno}) is not defined at the "
                    "top level of its module; handlers must be module-level functions"
                )
            raise site.error(f"no function {name!r} in {where}")
        if isinstance(binding, ast.AsyncFunctionDef) and _yields(binding):
            raise site.error(
                f"function {name!r} ({where}:{binding.lineno}) is an async generator "
                "('async def' with 'yield'); a handler is a function or a coroutine "
                "('def' or 'async def' without 'yield')"
            )
        if not isinstance(binding, _FunctionNode):
            raise site.error(
                f"{name!r} ({where}:{binding.lineno}) is not a function defined with "
                "'def' or 'async def'"
            )
        problem = _signature_problem(binding.args)
        if problem:
            raise site.error(f"function {name!r} ({where}:{binding.lineno}) {problem}")

    def _parse(self, file: str, site: CallSite) -> ast.Module:
        if file in self._trees:
            return self._trees[file]
        root = self._root.resolve()
        path = (root / file).resolve()
        if not path.is_relative_to(root):
            raise site.error(f"{file!r} resolves to a file outside the project directory")
        if not path.is_file():
            missing = "is not a file" if path.exists() else "does not exist"
            raise site.error(f"{file!r} {missing} in the project directory")
        try:
            source = path.read_bytes()
        except OSError as err:
            raise site.error(f"cannot read {file!r}: {err.strerror}") from None
        shown = f"{self._display_dir}/{file}" if self._display_dir else file
        try:
            # Compile-time warnings (e.g. "\d" in a string) are for the user's own
            # tools to report, not for the manifest check to print or fail on.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(source, filename=shown)
        except SyntaxError as err:
            message = f"syntax error in the called file: {err.msg}"
            raise ManifestError(message, file=shown, line=err.lineno, key=site.key) from None
        except (ValueError, RecursionError, MemoryError) as err:
            # ValueError: NUL bytes (3.11); the others: absurdly nested source.
            message = f"cannot parse the called file: {err}"
            raise ManifestError(message, file=shown, key=site.key) from None
        self._trees[file] = tree
        return tree


def _top_level_binding(tree: ast.Module, name: str) -> ast.stmt | None:
    """The module-level statement that binds ``name`` last (as Python would)."""
    found: ast.stmt | None = None
    for stmt in tree.body:
        if _binds(stmt, name):
            found = stmt
    return found


def _binds(stmt: ast.stmt, name: str) -> bool:
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return stmt.name == name
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        return any((alias.asname or alias.name.split(".")[0]) == name for alias in stmt.names)
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, ast.AnnAssign | ast.AugAssign):
        targets = [stmt.target]
    return any(
        isinstance(node, ast.Name) and node.id == name
        for target in targets
        for node in ast.walk(target)
    )


def _yields(function: _FunctionNode) -> bool:
    """Whether ``function`` itself (not a function inside it) has a ``yield``."""
    todo: list[ast.AST] = list(function.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return True
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            todo.extend(ast.iter_child_nodes(node))
    return False


def _nested_function(tree: ast.Module, name: str) -> _FunctionNode | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node
    return None


# The one parameter a handler may take besides the event (the runner passes it).
_SESSION_ID = "session_id"


def _signature_problem(args: ast.arguments) -> str | None:
    """Why a function with these parameters cannot be called as ``f(event)``, or
    ``f(event, session_id)`` when its second parameter is ``session_id``, if it cannot."""
    positional = [*args.posonlyargs, *args.args]
    required = len(positional) - len(args.defaults)
    if not positional and args.vararg is None:
        return "takes no arguments; a handler takes one, the event: def handler(event)"
    if required > 1 and not (required == 2 and positional[1].arg == _SESSION_ID):
        names = ", ".join(arg.arg for arg in positional[:required])
        return (
            f"requires {required} arguments ({names}); a handler is called with the event, "
            "and with the session id if it asks for it: def handler(event) or "
            "def handler(event, session_id)"
        )
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        if default is None and arg.arg != _SESSION_ID:
            return (
                f"has a required keyword-only argument {arg.arg!r}; "
                "a handler is called with the event only (and session_id if it asks for it)"
            )
    return None
