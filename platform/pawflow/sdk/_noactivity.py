"""What a program declared deterministic with ``pawflow.register_no_activity``.

One set per session (it lives on the session's scope): the runtime consults it
before treating a call as external.
"""

from __future__ import annotations

import types
from typing import Any

__all__ = ["NoActivity", "check_target"]


def check_target(target: Any) -> None:
    """Refuse what is neither a callable nor a module, in one line."""
    if not callable(target) and not isinstance(target, types.ModuleType):
        raise TypeError(
            "pawflow.register_no_activity takes a function or a module, "
            f"not a {type(target).__qualname__}"
        )


class NoActivity:
    """Functions and modules whose calls run inline."""

    def __init__(self) -> None:
        self._callables: list[Any] = []
        self._modules: list[types.ModuleType] = []
        self._module_names: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self._callables or self._modules)

    def add(self, target: Any) -> None:
        """Register a callable, or a module (everything defined in it or its
        submodules, and everything it holds as an attribute)."""
        check_target(target)
        if isinstance(target, types.ModuleType):
            if all(m is not target for m in self._modules):
                self._modules.append(target)
                self._module_names.add(target.__name__)
            return
        if all(c is not target for c in self._callables):
            self._callables.append(target)

    def covers(self, fn: Any, module: str) -> bool:
        """Whether a call to ``fn``, defined in ``module``, runs inline."""
        target = getattr(fn, "__func__", fn)  # a bound method: its function
        for registered in self._callables:
            if registered is fn or registered is target:
                return True
            if (
                isinstance(fn, types.MethodType | types.BuiltinMethodType)
                and isinstance(registered, types.MethodType | types.BuiltinMethodType)
                and fn == registered  # the same method of the same object
            ):
                return True
        if module in self._module_names or any(
            module.startswith(name + ".") for name in self._module_names
        ):
            return True
        name = getattr(target, "__name__", None)
        if isinstance(name, str):
            for m in self._modules:
                held = getattr(m, name, None)
                if held is fn or held is target:
                    return True
        return False
