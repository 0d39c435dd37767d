-- A group commit says where in the log it went, so that the node that wrote it can apply it to
-- its own read models straight from memory (see src/projections/tail.rs) instead of reading it
-- back.
--
-- `cinder_append` now also returns each event's `recorded_at`, and the cursor of the log's last
-- event before the batch (`previous_tx`, `previous_position`; 0 and 0 for an empty log). That
-- cursor is read after the log lock is taken, in a statement of its own, so its snapshot shows
-- every append that committed before this one, and none can commit in between (the lock is held
-- until this transaction's commit is visible): the events after `previous` in log order are
-- exactly this batch's. A tail whose checkpoint is `previous` may apply the batch as it is; any
-- other tail reads the log as before.
--
-- The result's shape changes, so the function is dropped and made again (the body is 0009's
-- but for the lines marked "new").
DROP FUNCTION cinder_append(int[], text[], text[], bigint[], text[], text[], text[], text[]);

CREATE FUNCTION cinder_append(
    appends int[], types text[], ids text[], sequences bigint[], event_types text[],
    versions text[], payloads text[], metadatas text[])
    RETURNS TABLE (append int, "position" bigint, tx text, recorded_at timestamptz,
                   previous_tx text, previous_position bigint)
    LANGUAGE plpgsql AS
$$
#variable_conflict use_column
DECLARE
    refused int[] := '{}';
    key_type int;
    key_id int;
    before_tx text := '0';       -- new
    before_position bigint := 0; -- new
BEGIN
    IF current_setting('cinder.turn', true) IS DISTINCT FROM 'on' THEN
        FOR key_type, key_id IN
            SELECT DISTINCT hashtext(t), hashtext(i) FROM unnest(types, ids) AS u(t, i) ORDER BY 1, 2
        LOOP
            PERFORM pg_advisory_xact_lock_shared(key_type, key_id);
        END LOOP;
    END IF;
    PERFORM cinder_lock_log();
    -- new: the log's last event, on the index events_tail.
    SELECT e.tx_id::text, e.position INTO before_tx, before_position
      FROM events e
     ORDER BY e.tx_id DESC, e.position DESC
     LIMIT 1;
    IF NOT FOUND THEN
        before_tx := '0';
        before_position := 0;
    END IF;
    FOR k IN 1 .. coalesce(array_length(appends, 1), 0) LOOP
        IF NOT appends[k] = ANY (refused) AND EXISTS (
            SELECT 1 FROM events
             WHERE aggregate_type = types[k] AND aggregate_id = ids[k] AND sequence = sequences[k])
        THEN
            refused := refused || appends[k];
        END IF;
    END LOOP;
    RETURN QUERY
        WITH new AS (
            SELECT *
              FROM unnest(appends, types, ids, sequences, event_types, versions, payloads, metadatas)
                       WITH ORDINALITY AS n(a, t, i, s, e, v, p, m, o)
             WHERE NOT a = ANY (refused)),
        written AS (
            INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                                payload, metadata)
            SELECT t, i, s, e, v, p::json, m::json
              FROM new
             ORDER BY o
            RETURNING events.aggregate_type, events.aggregate_id, events.sequence,
                events.position, events.tx_id, events.recorded_at)
        SELECT new.a, written.position, written.tx_id::text, written.recorded_at, -- new
               before_tx, before_position                                        -- new
          FROM written
          JOIN new
            ON new.t = written.aggregate_type
           AND new.i = written.aggregate_id
           AND new.s = written.sequence
         ORDER BY written.position;
END
$$;
