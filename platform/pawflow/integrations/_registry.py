"""Finding integrations: entry points of the group ``pawflow.integrations``.

An entry point names an :class:`Integration` object, or a function without
arguments returning one (``github = "pawflow_github:INTEGRATION"``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from importlib.metadata import EntryPoint, entry_points

from ..errors import NotFoundError, PawflowError
from ._model import Integration

__all__ = ["ENTRY_POINT_GROUP", "IntegrationRegistry", "load_integration"]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "pawflow.integrations"


class IntegrationRegistry:
    """The integrations one server (or test) works with, by name.

    Build it from explicit objects, or with :meth:`discover` from the installed
    packages. ``problems`` lists entry points that could not be loaded.
    """

    def __init__(
        self, integrations: Iterable[Integration] = (), *, problems: Iterable[str] = ()
    ) -> None:
        self._by_name: dict[str, Integration] = {}
        for integration in integrations:
            if integration.name in self._by_name:
                raise ValueError(f"two integrations are named {integration.name!r}")
            self._by_name[integration.name] = integration
        self.problems: tuple[str, ...] = tuple(problems)

    @classmethod
    def discover(cls, group: str = ENTRY_POINT_GROUP) -> IntegrationRegistry:
        """Every integration installed under the entry-point ``group``.

        A plugin that fails to load is left out (and logged) rather than taking
        the whole server down with it.
        """
        found: list[Integration] = []
        problems: list[str] = []
        seen: set[str] = set()
        for point in sorted(entry_points(group=group), key=lambda p: p.name):
            try:
                integration = _load(point)
            except PawflowError as err:
                log.warning("integration plugin %s not loaded: %s", point.name, err)
                problems.append(f"{point.name}: {err}")
                continue
            if integration.name in seen:
                problems.append(f"{point.name}: a second integration named {integration.name!r}")
                continue
            seen.add(integration.name)
            found.append(integration)
        return cls(found, problems=problems)

    def get(self, name: str) -> Integration:
        """The integration ``name``; NotFoundError (listing the installed ones) if absent."""
        try:
            return self._by_name[name]
        except KeyError:
            installed = ", ".join(sorted(self._by_name)) or "none"
            raise NotFoundError(f"unknown integration {name!r} (installed: {installed})") from None

    def names(self) -> list[str]:
        """Installed integration names, sorted."""
        return sorted(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Integration]:
        return iter(self._by_name[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._by_name)

    def __repr__(self) -> str:
        return f"IntegrationRegistry({self.names()})"


def load_integration(name: str, group: str = ENTRY_POINT_GROUP) -> Integration:
    """Load just the integration registered as ``name`` (no scan of every plugin)."""
    for point in entry_points(group=group, name=name):
        integration = _load(point)
        if integration.name == name:
            return integration
    raise NotFoundError(f"integration {name!r} is not installed where this code runs")


def _load(point: EntryPoint) -> Integration:
    try:
        target = point.load()
        integration = target if isinstance(target, Integration) else target()
    except Exception as err:  # a third-party plugin may fail in any way
        raise PawflowError(f"cannot load {point.value}: {type(err).__name__}: {err}") from None
    if not isinstance(integration, Integration):
        raise PawflowError(
            f"{point.value} is a {type(integration).__name__}, not a pawflow Integration"
        )
    return integration
