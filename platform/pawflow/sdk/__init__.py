"""What user code imports as ``pawflow``. Kept small and documented."""

from ._activity import activity
from ._attrdict import AttrDict
from ._event import Event
from ._scope import vars

__all__ = ["AttrDict", "Event", "activity", "vars"]
