-- Appends commit in log order, so the tail needs no visibility horizon.
--
-- Until now a reader only read events whose transaction was older than every transaction still
-- running (`tx_id < pg_snapshot_xmin(pg_current_snapshot())`). That horizon is cluster-wide: a
-- writing transaction left open anywhere on the Postgres cluster (a migration, a batch job,
-- another application in another database) froze every node's tail until it ended.
--
-- Instead, every transaction that writes events first takes one exclusive, transaction-scoped
-- advisory lock (the "log lock"), and only then gets its transaction id and its positions.
-- Postgres releases the lock after the commit is visible to other snapshots, so appends commit
-- one after another in (tx_id, position) order: the events a reader's snapshot shows are always
-- a prefix of the log, and "(tx_id, position) > checkpoint" can never skip one. A transaction that
-- writes no events takes no part. Appends are serialised by this lock, which costs little
-- because each node writes all its commands' events in one transaction per batch (group commit,
-- src/store/appender.rs).
--
-- The lock is taken by a statement trigger, so no writer can bypass it (postgres-es' own
-- repository, a psql session, COPY). A transaction that already wrote something else before its
-- first event has a transaction id from before the lock, possibly older than events a reader
-- has already passed; it is refused with a clear error rather than allowed to be skipped.
-- Advisory locks belong to one database, so Cinder databases on one cluster do not share it.

CREATE FUNCTION cinder_lock_log() RETURNS void
    LANGUAGE plpgsql AS
$$
BEGIN
    IF current_setting('cinder.log_locked', true) = 'on' THEN
        RETURN;
    END IF;
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION 'events must be the first thing a transaction writes'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Insert into events before any other change in the transaction, '
                      || 'or in a transaction of its own (see migrations/0007_commit_in_log_order.sql).';
    END IF;
    -- The log lock's key: "cinder_events" in the single-bigint key space (per-aggregate locks
    -- use the two-int4 space, which never collides with it).
    PERFORM pg_advisory_xact_lock(7020001);
    PERFORM set_config('cinder.log_locked', 'on', true);
END
$$;

CREATE FUNCTION cinder_events_in_log_order() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM cinder_lock_log();
    RETURN NULL;
END
$$;

CREATE TRIGGER events_in_log_order
    BEFORE INSERT ON events
    FOR EACH STATEMENT
EXECUTE FUNCTION cinder_events_in_log_order();
