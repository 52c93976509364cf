"""The store's schema, as one ordered list of migrations for both back ends.

A database records how many migrations it has applied: SQLite in ``PRAGMA
user_version``, PostgreSQL in the one-row table ``pawflow_schema``. A migration
is never edited once released: schema changes are new entries appended to
:data:`MIGRATIONS`.

The SQL stays portable: TEXT ids, REAL times (Unix seconds, UTC), JSON as TEXT,
INTEGER 0/1 booleans, BLOB bytes; the dialect (``_sql.py``) spells those types
for PostgreSQL (DOUBLE PRECISION, BIGINT, BYTEA). The one step SQLite cannot
take the portable way (dropping a table constraint) has a :class:`PerDialect`
entry. ``trigger`` and ``call`` are SQL keywords, hence the ``trigger_name``
and ``call_target`` columns.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..errors import ConfigError
from ._sql import SQLITE, Connection, Dialect

__all__ = ["MIGRATIONS", "PerDialect", "migrate", "split_statements"]

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

_EVENT_SOURCES_SQLITE = """
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

# PostgreSQL drops the constraint in place. No PostgreSQL database predates
# this step (the PostgreSQL store came later and migrates an empty database
# through every step at once), so there are no events to give a source.
_EVENT_SOURCES_POSTGRESQL = """
ALTER TABLE events ADD COLUMN idempotency_source TEXT NOT NULL DEFAULT '';
ALTER TABLE events DROP CONSTRAINT events_project_idempotency_key_key;
ALTER TABLE events ADD CONSTRAINT events_project_idempotency_source_idempotency_key_key
    UNIQUE (project, idempotency_source, idempotency_key);
"""

_EVENT_CLAIMS = """
-- Which server is matching a pending event, and until when: several servers
-- share one database, and each event must be matched by one of them. A claim
-- past its time (its server died) is free for another to take.
ALTER TABLE events ADD COLUMN claimed_by TEXT;
ALTER TABLE events ADD COLUMN claim_until REAL;
"""

_WORKERS = """
-- The last heartbeat of each worker, so that every server on the database
-- lists the same workers; rows of workers unseen for long are deleted.
CREATE TABLE workers (
    id                TEXT PRIMARY KEY,
    host              TEXT NOT NULL,
    pid               INTEGER NOT NULL,
    task_queue        TEXT NOT NULL,
    version           TEXT NOT NULL,
    started_at        REAL NOT NULL,
    last_seen         REAL NOT NULL,
    sessions_running  INTEGER NOT NULL,
    log_backlog       INTEGER NOT NULL
);
CREATE INDEX workers_by_last_seen ON workers (last_seen);
"""

_SETTINGS = """
-- Facts every server of the database must agree on, by name: e.g. the
-- fingerprint of the key secret vars are encrypted with.
CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
"""

_OPERATIONS = """
-- A redispatched event names the event it dispatches again.
ALTER TABLE events ADD COLUMN replay_of TEXT;
-- A session restarted from another's failure: the first reuse_count answers of
-- that session's transcript are its own, not asked again.
ALTER TABLE sessions ADD COLUMN reuse_from TEXT;
ALTER TABLE sessions ADD COLUMN reuse_count INTEGER;
"""

_RETENTION_INDEXES = """
-- Retention looks for a project's sessions by when they ended, and for the
-- deliveries of the events it deletes.
CREATE INDEX sessions_by_project_end ON sessions (project, ended_at);
CREATE INDEX subscription_deliveries_by_event ON subscription_deliveries (event_id);
"""


@dataclass(frozen=True)
class PerDialect:
    """A migration step spelled differently for each back end."""

    sqlite: str
    postgresql: str

    def script(self, dialect: Dialect) -> str:
        return str(getattr(self, dialect.name))


Migration = str | PerDialect

MIGRATIONS: tuple[Migration, ...] = (
    _V1,
    _CALL_JOURNAL,
    _KV_STORE,
    _SESSION_CONTROL,
    _VARS,
    _EVENT_CONNECTIONS,
    _SUBSCRIPTIONS,
    PerDialect(sqlite=_EVENT_SOURCES_SQLITE, postgresql=_EVENT_SOURCES_POSTGRESQL),
    _EVENT_MATCHES,
    _TRANSCRIPTS,
    _EVENT_CLAIMS,
    _WORKERS,
    _SETTINGS,
    _OPERATIONS,
    _RETENTION_INDEXES,
)
"""Migration ``i`` takes a database from schema version ``i`` to ``i + 1``."""


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


def migrate(
    conn: Connection,
    where: object,
    migrations: tuple[Migration, ...] = MIGRATIONS,
    dialect: Dialect = SQLITE,
) -> int:
    """Bring the database up to ``len(migrations)``; returns the resulting version.
    ``where`` names the database in messages (never with a password).

    ``conn`` must be in autocommit mode. Each migration runs in its own
    transaction together with the version bump, so a crash leaves the database
    at a whole version. Several processes migrating at once do not race: on
    SQLite each step takes the write lock and re-reads the version under it;
    on PostgreSQL an advisory lock is held around the whole run, so the others
    wait, then find the work done.
    """
    known = len(migrations)
    with _migration_lock(conn, dialect):
        current = _schema_version(conn, dialect)
        if current > known:
            raise ConfigError(
                f"database {where} has schema version {current}, but this version of Pawflow "
                f"only knows up to {known}; upgrade Pawflow to open it"
            )
        started = current
        while current < known:
            conn.execute(dialect.begin)
            try:
                # Re-read under the write lock: another process may have migrated meanwhile.
                current = _schema_version(conn, dialect)
                if current < known:
                    step = migrations[current]
                    script = step if isinstance(step, str) else step.script(dialect)
                    for statement in split_statements(dialect.ddl(script)):
                        conn.execute(statement)
                    current += 1
                    _set_schema_version(conn, dialect, current)
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            log.debug("store %s migrated to schema version %d", where, current)
        if current != started:
            log.info("store %s migrated from schema version %d to %d", where, started, current)
    return current


# Any constant will do, as long as nothing else takes the same advisory lock.
_PG_MIGRATION_LOCK = 0x70617766  # "pawf"


@contextmanager
def _migration_lock(conn: Connection, dialect: Dialect) -> Iterator[None]:
    if dialect.name != "postgresql":
        yield  # each step's BEGIN IMMEDIATE is the lock
        return
    conn.execute("SELECT pg_advisory_lock(?)", (_PG_MIGRATION_LOCK,))
    try:
        # Under the lock: two first servers must not both create the table.
        conn.execute("CREATE TABLE IF NOT EXISTS pawflow_schema (version BIGINT NOT NULL)")
        if conn.execute("SELECT version FROM pawflow_schema").fetchone() is None:
            conn.execute("INSERT INTO pawflow_schema (version) VALUES (0)")
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(?)", (_PG_MIGRATION_LOCK,))


def _schema_version(conn: Connection, dialect: Dialect) -> int:
    if dialect.name == "postgresql":
        row = conn.execute("SELECT version FROM pawflow_schema").fetchone()
    else:
        row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def _set_schema_version(conn: Connection, dialect: Dialect, version: int) -> None:
    if dialect.name == "postgresql":
        conn.execute("UPDATE pawflow_schema SET version = ?", (version,))
    else:
        # PRAGMA takes no parameters; version is an int we computed.
        conn.execute(f"PRAGMA user_version = {version:d}")
