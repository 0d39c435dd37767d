-- Cinder's global log on top of the postgres-es table.
--
-- `position` orders events globally, but identity values are handed out before commit, so a
-- lower position can become visible after a higher one. Readers therefore tail by
-- (tx_id, position) and only read rows whose writing transaction is older than every transaction
-- still running (`tx_id < pg_snapshot_xmin(pg_current_snapshot())`): nothing can later appear
-- behind such a reader. postgres-es names its columns in its SQL, so defaulted columns are safe.
ALTER TABLE events
    ADD COLUMN position    bigint GENERATED ALWAYS AS IDENTITY,
    ADD COLUMN tx_id       xid8        NOT NULL DEFAULT pg_current_xact_id(),
    ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT now();

CREATE UNIQUE INDEX events_position ON events (position);
CREATE INDEX events_tail ON events (tx_id, position);

-- Wake every node's tail when events commit (NOTIFY is delivered at commit, once per statement).
CREATE FUNCTION cinder_notify_events() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('cinder_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    FOR EACH STATEMENT
EXECUTE FUNCTION cinder_notify_events();
