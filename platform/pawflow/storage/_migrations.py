"""The store's schema, as an ordered list of migrations.

``PRAGMA user_version`` holds how many migrations a database has applied. A
migration is never edited once released: schema changes are new entries
appended to :data:`MIGRATIONS`.

The SQL stays portable so a PostgreSQL store can share the same shape: TEXT ids,
REAL times (Unix seconds, UTC), JSON as TEXT, INTEGER 0/1 booleans, no
SQLite-only column types. ``trigger`` and ``call`` are SQL keywords, hence the
``trigger_name`` and ``call_target`` columns.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from ..errors import ConfigError

__all__ = ["MIGRATIONS", "migrate", "split_statements"]

log = logging.getLogger(__name__)

_V1 = """
CREATE TABLE projects (
    name        TEXT PRIMARY KEY,
    created_at  REAL NOT NULL
);

CREATE TABLE deployments (
    id           TEXT PRIMARY KEY,
    project      TEXT NOT NULL REFERENCES projects (name),
    state        TEXT NOT NULL CHECK (state IN ('active', 'draining', 'inactive')),
    created_at   REAL NOT NULL,
    manifest     TEXT NOT NULL,
    code_sha256  TEXT NOT NULL
);
CREATE INDEX deployments_by_project ON deployments (project, created_at, id);
-- The invariant "one active deployment per project" is the database's to keep.
CREATE UNIQUE INDEX deployments_one_active ON deployments (project) WHERE state = 'active';

-- Kept apart so listing deployments never reads the zips.
CREATE TABLE deployment_code (
    deployment_id  TEXT PRIMARY KEY REFERENCES deployments (id) ON DELETE CASCADE,
    code           BLOB NOT NULL
);

CREATE TABLE webhooks (
    slug          TEXT PRIMARY KEY,
    project       TEXT NOT NULL REFERENCES projects (name),
    trigger_name  TEXT NOT NULL,
    UNIQUE (project, trigger_name)
);

CREATE TABLE events (
    id               TEXT PRIMARY KEY,
    project          TEXT NOT NULL REFERENCES projects (name),
    trigger_name     TEXT,
    type             TEXT NOT NULL,
    data             TEXT NOT NULL,
    idempotency_key  TEXT,
    created_at       REAL NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'dispatched', 'unmatched')),
    -- NULL keys never collide (SQL semantics), so events without a key are unconstrained.
    UNIQUE (project, idempotency_key)
);
CREATE INDEX events_pending ON events (created_at, id) WHERE state = 'pending';
CREATE INDEX events_by_project ON events (project, created_at, id);
CREATE INDEX events_by_time ON events (created_at, id);

CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    project        TEXT NOT NULL REFERENCES projects (name),
    deployment_id  TEXT NOT NULL REFERENCES deployments (id),
    trigger_name   TEXT NOT NULL,
    event_id       TEXT REFERENCES events (id),
    call_target    TEXT NOT NULL,
    state          TEXT NOT NULL
                   CHECK (state IN ('created', 'running', 'completed', 'error', 'stopped')),
    created_at     REAL NOT NULL,
    ended_at       REAL,
    error          TEXT,
    start_pending  INTEGER NOT NULL CHECK (start_pending IN (0, 1))
);
CREATE INDEX sessions_by_project ON sessions (project, created_at, id);
CREATE INDEX sessions_by_event ON sessions (event_id);
CREATE INDEX sessions_by_state ON sessions (state, created_at, id);
CREATE INDEX sessions_by_time ON sessions (created_at, id);
CREATE INDEX sessions_unfinished ON sessions (deployment_id, state);
CREATE INDEX sessions_start_pending ON sessions (created_at, id) WHERE start_pending = 1;

-- No foreign key to sessions: a log record is kept even if its session is unknown.
CREATE TABLE session_log (
    session_id  TEXT NOT NULL,
    n           INTEGER NOT NULL,
    time        REAL NOT NULL,
    type        TEXT NOT NULL,
    record      TEXT NOT NULL,
    PRIMARY KEY (session_id, n)
);
"""

_CALL_JOURNAL = """
-- Outcomes of completed external calls, so a crash before Temporal recorded
-- them never runs them again; dropped when the session ends.
CREATE TABLE call_journal (
    session_id  TEXT NOT NULL,
    number      INTEGER NOT NULL,
    outcome     BLOB NOT NULL,
    shown       TEXT NOT NULL,
    PRIMARY KEY (session_id, number)
);
"""

_KV_STORE = """
-- The per-project key-value store of user code (pawflow.store). Values are JSON.
CREATE TABLE kv_store (
    project     TEXT NOT NULL REFERENCES projects (name),
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (project, key)
);
"""

_SESSION_CONTROL = """
-- Sessions started by another session, and whether that parent has been told
-- the child ended (the outbox of the pawflow.child_done signal).
ALTER TABLE sessions ADD COLUMN parent_session_id TEXT REFERENCES sessions (id);
ALTER TABLE sessions ADD COLUMN parent_notified INTEGER NOT NULL DEFAULT 0
    CHECK (parent_notified IN (0, 1));
CREATE INDEX sessions_by_parent ON sessions (parent_session_id);
CREATE INDEX sessions_parent_untold ON sessions (ended_at, id)
    WHERE parent_session_id IS NOT NULL AND parent_notified = 0;
"""

_VARS = """
-- Vars set with `paw var set`, of a project or of one of its connections
-- (connection '' = the project itself: NULL would defeat the primary key).
-- A secret's value is Fernet ciphertext; the store never sees the key.
CREATE TABLE vars (
    project     TEXT NOT NULL REFERENCES projects (name),
    connection  TEXT NOT NULL,
    name        TEXT NOT NULL,
    value       TEXT NOT NULL,
    secret      INTEGER NOT NULL CHECK (secret IN (0, 1)),
    updated_at  REAL NOT NULL,
    PRIMARY KEY (project, connection, name)
);

-- Stable webhook URLs of connections, like those of webhook triggers.
CREATE TABLE connection_webhooks (
    slug        TEXT PRIMARY KEY,
    project     TEXT NOT NULL REFERENCES projects (name),
    connection  TEXT NOT NULL,
    UNIQUE (project, connection)
);
"""

_EVENT_CONNECTIONS = """
-- The connection an integration event came in through (NULL for webhooks and
-- schedules, which name their trigger instead).
ALTER TABLE events ADD COLUMN connection_name TEXT;
"""

_SUBSCRIPTIONS = """
-- Events a running session asked for (pawflow.subscribe): new events of the
-- project whose trigger or connection is `source` and that pass `filter` (CEL).
CREATE TABLE subscriptions (
    id          TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions (id),
    project     TEXT NOT NULL REFERENCES projects (name),
    source      TEXT NOT NULL,
    filter      TEXT,
    created_at  REAL NOT NULL
);
CREATE INDEX subscriptions_by_source ON subscriptions (project, source, created_at);
CREATE INDEX subscriptions_by_session ON subscriptions (session_id);

-- The outbox of the pawflow.event signal: a row is written before the signal is
-- sent and flagged once Temporal accepted it, so a crash in between loses nothing.
CREATE TABLE subscription_deliveries (
    subscription_id  TEXT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL REFERENCES events (id),
    created_at       REAL NOT NULL,
    delivered        INTEGER NOT NULL DEFAULT 0 CHECK (delivered IN (0, 1)),
    PRIMARY KEY (subscription_id, event_id)
);
CREATE INDEX subscription_deliveries_pending ON subscription_deliveries (created_at)
    WHERE delivered = 0;

-- The answer a session gave to its synchronous webhook (pawflow.http_outcome);
-- the first one is final.
CREATE TABLE http_outcomes (
    session_id  TEXT PRIMARY KEY REFERENCES sessions (id),
    outcome     TEXT NOT NULL,
    created_at  REAL NOT NULL
);
"""

_EVENT_SOURCES = """
-- Idempotency keys are namespaced by the source that chose them (see
-- storage/_sources.py): the same key from two webhook triggers, a schedule or a
-- connection is two events. SQLite cannot drop a table constraint, so the table
-- is rebuilt. Sessions and deliveries keep pointing at their events: the
-- foreign keys are checked at COMMIT, when every event is back under its id.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE events_before_sources AS SELECT * FROM events;
DROP TABLE events;
CREATE TABLE events (
    id                  TEXT PRIMARY KEY,
    project             TEXT NOT NULL REFERENCES projects (name),
    trigger_name        TEXT,
    type                TEXT NOT NULL,
    data                TEXT NOT NULL,
    idempotency_key     TEXT,
    created_at          REAL NOT NULL,
    state               TEXT NOT NULL CHECK (state IN ('pending', 'dispatched', 'unmatched')),
    connection_name     TEXT,
    -- Who chose the key: 'webhook:T', 'schedule:T', 'connection:C', 'manual',
    -- 'child:SESSION', or '' for events that came in no other way.
    idempotency_source  TEXT NOT NULL DEFAULT '',
    -- NULL keys never collide (SQL semantics), so events without a key are unconstrained.
    UNIQUE (project, idempotency_source, idempotency_key)
);
-- Each existing event gets the source it came through; the old keys were
-- unique per project, so they stay unique per source.
INSERT INTO events (id, project, trigger_name, type, data, idempotency_key, created_at, state,
                    connection_name, idempotency_source)
SELECT id, project, trigger_name, type, data, idempotency_key, created_at, state,
       connection_name,
       CASE
           WHEN connection_name IS NOT NULL THEN 'connection:' || connection_name
           WHEN type = 'schedule' AND trigger_name IS NOT NULL
                AND idempotency_key LIKE 'schedule:%' THEN 'schedule:' || trigger_name
           WHEN type = 'manual' AND trigger_name IS NULL THEN
               COALESCE((SELECT 'child:' || s.parent_session_id FROM sessions s
                         WHERE s.event_id = events_before_sources.id
                           AND s.parent_session_id IS NOT NULL
                         ORDER BY s.created_at, s.id LIMIT 1), 'manual')
           WHEN trigger_name IS NOT NULL THEN 'webhook:' || trigger_name
           ELSE ''
       END
FROM events_before_sources;
DROP TABLE events_before_sources;
CREATE INDEX events_pending ON events (created_at, id) WHERE state = 'pending';
CREATE INDEX events_by_project ON events (project, created_at, id);
CREATE INDEX events_by_time ON events (created_at, id);
"""

_EVENT_MATCHES = """
-- How the dispatcher matched an event: a JSON list with one
-- {"trigger" | "subscription", "matched", "reason"} per trigger or subscription
-- it was for, the reason saying why not (a filter false or over its budget).
-- NULL while pending, and for events matched before this column existed.
ALTER TABLE events ADD COLUMN matches TEXT;
"""

_TRANSCRIPTS = """
-- The answered requests of a long-lived session, saved when its workflow
-- continues as new (its history would outgrow Temporal's limits), so a fresh
-- runner can still replay them; dropped when the session ends.
CREATE TABLE transcripts (
    session_id  TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    exchange    TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
"""

MIGRATIONS: tuple[str, ...] = (
    _V1,
    _CALL_JOURNAL,
    _KV_STORE,
    _SESSION_CONTROL,
    _VARS,
    _EVENT_CONNECTIONS,
    _SUBSCRIPTIONS,
    _EVENT_SOURCES,
    _EVENT_MATCHES,
    _TRANSCRIPTS,
)
"""Migration ``i`` takes a database from ``user_version`` ``i`` to ``i + 1``."""


def split_statements(script: str) -> list[str]:
    """Split an SQL script into complete statements.

    Scripts are run statement by statement because ``executescript`` would commit
    the transaction a migration must run in. ``sqlite3.complete_statement`` knows
    about quotes, comments and ``CREATE TRIGGER ... END`` bodies, so a ``;``
    inside them does not cut a statement.
    """
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            statement = pending.strip()
            if statement != ";":
                statements.append(statement)
            pending = ""
    if pending.strip(" \n\t;"):
        raise ValueError(f"incomplete SQL statement at end of script: {pending.strip()!r}")
    return statements


def migrate(conn: sqlite3.Connection, path: Path, migrations: tuple[str, ...] = MIGRATIONS) -> int:
    """Bring the database up to ``len(migrations)``; returns the resulting version.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Each migration
    runs in its own ``BEGIN IMMEDIATE`` transaction together with the version
    bump, so a crash leaves the database at a whole version, and a second process
    migrating the same file at the same time waits, then finds the work done.
    """
    known = len(migrations)
    current = _user_version(conn)
    if current > known:
        raise ConfigError(
            f"database {path} has schema version {current}, but this version of Pawflow "
            f"only knows up to {known}; upgrade Pawflow to open it"
        )
    while current < known:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated meanwhile.
            current = _user_version(conn)
            if current < known:
                for statement in split_statements(migrations[current]):
                    conn.execute(statement)
                current += 1
                # PRAGMA takes no parameters; current is an int we computed.
                conn.execute(f"PRAGMA user_version = {current:d}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        log.info("store %s migrated to schema version %d", path, current)
    return current


def _user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])
