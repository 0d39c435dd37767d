-- Group commit: one call writes a batch of appends (each one aggregate's new events) in one
-- transaction, and refuses only the appends whose sequences are taken (see
-- src/store/appender.rs).
--
-- The arrays hold one element per event; `appends` numbers the append each event belongs to.
-- Returns, for every event written, its append's number, position and transaction id. An append
-- none of whose events comes back conflicted: nothing of it was written.
--
-- The log lock is taken first, in a statement of its own: the check that follows then runs on
-- a snapshot taken after every earlier append committed, and no other append can commit until
-- this one has, so "not there yet" cannot turn into a duplicate key half way through the batch.
--
-- The check looks each event up on the primary key, one at a time: as a join, the planner of
-- the function's cached generic plan (which guesses 100 events a call) soon prefers hashing a
-- scan of the whole log to 100 index lookups, and every batch then reads every event.
CREATE FUNCTION cinder_append(
    appends int[], types text[], ids text[], sequences bigint[], event_types text[],
    versions text[], payloads text[], metadatas text[])
    RETURNS TABLE (append int, "position" bigint, tx text)
    LANGUAGE plpgsql AS
$$
#variable_conflict use_column
DECLARE
    refused int[] := '{}';
BEGIN
    PERFORM cinder_lock_log();
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
                events.position, events.tx_id)
        SELECT new.a, written.position, written.tx_id::text
          FROM written
          JOIN new
            ON new.t = written.aggregate_type
           AND new.i = written.aggregate_id
           AND new.s = written.sequence
         ORDER BY written.position;
END
$$;
