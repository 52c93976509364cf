"""Landlock: what a runner may connect to and whom it may signal.

Two uses, both unprivileged and inherited by every child process:

- The fork server (which all runners are forked from) gives up connecting to
  the Temporal server's ports: an embedded Temporal has no authentication,
  and a program that reached it could signal, terminate or forge the input of
  any session. Landlock rules allow, they do not deny, so this allows every
  other TCP port (some 65,000 rules, a third of a second, once per worker).
- Each runner scopes its signals to itself: a program can signal its own
  processes, not another session's runner, nor its worker.

Where the kernel has no Landlock (or an older one), :func:`abi` says 0 and
the caller reports what does not hold.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable

__all__ = ["DENIED_PORTS_ENV", "abi", "deny_tcp_connect", "scope_signals"]

# How a worker tells its fork server which ports to give up (see ``_forkguard``).
DENIED_PORTS_ENV = "PAWFLOW_RUNNER_DENIED_PORTS"

_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_NET_PORT = 2
_ACCESS_NET_CONNECT_TCP = 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
_SCOPE_SIGNAL = 1 << 1
_PR_SET_NO_NEW_PRIVS = 38

NET_ABI = 4  # the first ABI with TCP port rules
SCOPE_ABI = 6  # the first with signal scoping


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _NetPortAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64))


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi() -> int:
    """The kernel's Landlock ABI version (0: none)."""
    try:
        version = int(_libc().syscall(_SYS_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(version, 0)


def _restrict(libc: ctypes.CDLL, attr: _RulesetAttr, size: int, rules: Iterable[int]) -> None:
    fd = int(libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
    try:
        rule = _NetPortAttr(_ACCESS_NET_CONNECT_TCP, 0)
        for port in rules:
            rule.port = port
            if libc.syscall(_SYS_ADD_RULE, fd, _RULE_NET_PORT, ctypes.byref(rule), 0) != 0:
                raise OSError(ctypes.get_errno(), "landlock_add_rule")
        # Needed unless privileged, and right for these processes anyway.
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(_SYS_RESTRICT_SELF, fd, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(fd)


def deny_tcp_connect(ports: Iterable[int]) -> None:
    """From now on, this process and its children cannot open a TCP
    connection to any of ``ports`` (on any host)."""
    denied = set(ports)
    attr = _RulesetAttr(0, _ACCESS_NET_CONNECT_TCP, 0)
    # Sized without ``scoped``: what ABI 4 and 5 know.
    _restrict(_libc(), attr, 16, (p for p in range(65536) if p not in denied))


def scope_signals() -> None:
    """From now on, this process (and its children) can signal only processes
    of its own making."""
    attr = _RulesetAttr(0, 0, _SCOPE_SIGNAL | _SCOPE_ABSTRACT_UNIX_SOCKET)
    _restrict(_libc(), attr, ctypes.sizeof(_RulesetAttr), ())
