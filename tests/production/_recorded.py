"""When each call's outcome was first recorded, on a PostgreSQL store.

The PostgreSQL twin of ``tests/faults/_repeats.watch_calls``: triggers in the
servers' database copy each first call-journal write and each first
``call_end`` log record, with the time, into a table of the test's own, so
``tally_effects`` can tell a completed call that ran again (a broken guarantee)
from an interrupted one that was re-run. The journal keeps no time and is
dropped when its session ends, which is why the note is taken as it is written.
Both inserts are ``ON CONFLICT DO NOTHING``: a second write of the same key
inserts no row, so it fires no row trigger; a transaction rolled back (a lost
serialization race) takes its note with it.
"""

from __future__ import annotations

import psycopg

from tests.faults._repeats import Recorded

__all__ = ["recorded_calls", "watch_calls"]

_TABLE = "test_recorded_calls"
# Wall clock of the moment the row is written (not the transaction's start).
_NOW = "extract(epoch FROM clock_timestamp())"
_WATCH = f"""
CREATE TABLE IF NOT EXISTS {_TABLE} (
    source      TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    number      BIGINT NOT NULL,
    at          DOUBLE PRECISION NOT NULL
);
CREATE OR REPLACE FUNCTION {_TABLE}_journal() RETURNS trigger AS $$
BEGIN
    INSERT INTO {_TABLE} VALUES ('journal', NEW.session_id, NEW.number, {_NOW});
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION {_TABLE}_call_end() RETURNS trigger AS $$
BEGIN
    INSERT INTO {_TABLE}
    VALUES ('call_end', NEW.session_id, CAST(CAST(NEW.record AS jsonb) ->> 'seq' AS BIGINT),
            {_NOW});
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE OR REPLACE TRIGGER {_TABLE}_journal AFTER INSERT ON call_journal
    FOR EACH ROW EXECUTE FUNCTION {_TABLE}_journal();
CREATE OR REPLACE TRIGGER {_TABLE}_call_end AFTER INSERT ON session_log
    FOR EACH ROW WHEN (NEW.type = 'call_end') EXECUTE FUNCTION {_TABLE}_call_end();
"""


def watch_calls(url: str) -> None:
    """Have the migrated database at ``url`` note when each call's outcome is first
    recorded. Run before any session does."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_WATCH)


def recorded_calls(url: str) -> list[Recorded]:
    """Everything :func:`watch_calls` noted so far."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT source, session_id, number, at FROM {_TABLE}").fetchall()
    return [Recorded(str(s), str(sid), int(n), float(at)) for s, sid, n, at in rows]
