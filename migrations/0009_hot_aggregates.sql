-- Hot aggregates take turns across nodes (see src/store/turn.rs and src/bus/turns.rs).
--
-- Each node keeps the aggregates it writes cached and appends after its cached sequence
-- (optimistic concurrency). Two nodes writing one aggregate at once make one of them lose, reload
-- and retry; under a flash sale the loser can lose again and again, and a command could run out
-- of retries ("too many people changed this at once"). So a node that saw a conflict on an
-- aggregate takes *turns* on it for a while: each command on it runs in a transaction that first
-- takes that aggregate's exclusive advisory lock, then reads what others wrote, decides, appends
-- and commits. Only one writer on the whole cluster holds an aggregate's turn at a time.
--
-- That alone is not enough: a node that has not seen a conflict yet appends in its group commit
-- without the turn, and could slip in between a turn's read and its append. So every group
-- commit first takes each of its aggregates' locks in *shared* mode: batches never wait for each
-- other on them (the log lock orders them anyway), but a batch waits for a turn in progress on one
-- of its aggregates, and a turn waits for batches already holding it. A turn therefore never
-- conflicts, and a batch's append that was decided on stale state is refused by the sequence
-- check as before: that node then takes turns too, so a command sees at most one conflict.
--
-- No deadlock: every transaction takes its aggregate locks before the log lock, a batch in one
-- fixed order (sorted keys) and a turn just one. Keys are (hashtext(type), hashtext(id)) in the
-- two-int4 key space (the log lock is in the bigint space); two aggregates that share a key
-- only wait for each other a little more often.

CREATE FUNCTION cinder_take_turn(turn_type text, turn_id text, after bigint)
    RETURNS TABLE (sequence bigint, event_type text, event_version text, payload json,
                   metadata json)
    LANGUAGE plpgsql AS
$$
BEGIN
    -- A budget for the wait (and for the log lock after it): a turn that cannot be had in
    -- 5 s fails as "unavailable" rather than piling up commands.
    PERFORM set_config('lock_timeout', '5s', true);
    PERFORM pg_advisory_xact_lock(hashtext(turn_type), hashtext(turn_id));
    -- This transaction's append is the turn's: cinder_append must not lock the aggregate again.
    PERFORM set_config('cinder.turn', 'on', true);
    -- A statement of its own, so its snapshot is taken after the lock: it sees every append
    -- that committed before this turn began.
    RETURN QUERY
        SELECT e.sequence, e.event_type, e.event_version, e.payload, e.metadata
          FROM events e
         WHERE e.aggregate_type = turn_type AND e.aggregate_id = turn_id AND e.sequence > after
         ORDER BY e.sequence;
END
$$;

CREATE OR REPLACE FUNCTION cinder_append(
    appends int[], types text[], ids text[], sequences bigint[], event_types text[],
    versions text[], payloads text[], metadatas text[])
    RETURNS TABLE (append int, "position" bigint, tx text)
    LANGUAGE plpgsql AS
$$
#variable_conflict use_column
DECLARE
    refused int[] := '{}';
    key_type int;
    key_id int;
BEGIN
    IF current_setting('cinder.turn', true) IS DISTINCT FROM 'on' THEN
        FOR key_type, key_id IN
            SELECT DISTINCT hashtext(t), hashtext(i) FROM unnest(types, ids) AS u(t, i) ORDER BY 1, 2
        LOOP
            PERFORM pg_advisory_xact_lock_shared(key_type, key_id);
        END LOOP;
    END IF;
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
