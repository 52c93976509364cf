"""``paw up``: the whole platform on one machine in one foreground command.

Runs an embedded Temporal dev server (persisted in the data dir), the Pawflow
server in-process, and supervised worker subprocesses; Ctrl-C stops them all.
"""

from ._compact import give_space_back
from ._lock import LOCK_FILE, DataDirInUse, DataDirLock, LockOwner
from ._process import die_with_parent, free_port, make_undumpable, run_until_signalled
from ._progress import Progress
from ._run import UpOptions, run_up
from ._supervisor import WorkerSupervisor, worker_command
from ._temporal import (
    TEMPORAL_DB_FILE,
    EmbeddedTemporal,
    TemporalStartError,
    find_temporal_binary,
)

__all__ = [
    "LOCK_FILE",
    "TEMPORAL_DB_FILE",
    "DataDirInUse",
    "DataDirLock",
    "EmbeddedTemporal",
    "LockOwner",
    "Progress",
    "TemporalStartError",
    "UpOptions",
    "WorkerSupervisor",
    "die_with_parent",
    "find_temporal_binary",
    "free_port",
    "give_space_back",
    "make_undumpable",
    "run_until_signalled",
    "run_up",
    "worker_command",
]
