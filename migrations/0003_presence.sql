-- Presence shared by every node (see src/presence.rs).
--
-- Each node writes its own entries (one per open page or joined channel) and renews its
-- heartbeat; any node deletes the entries of nodes whose heartbeat is too old, so a node that
-- dies drops out by itself. Every change is announced on `cinder_presence` with the row, so
-- the other nodes update their copy without reading the table again.
CREATE TABLE presence_nodes
(
    node_id      text PRIMARY KEY,
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE presence
(
    node_id text  NOT NULL,
    ref     text  NOT NULL,
    topic   text  NOT NULL,
    key     text  NOT NULL,
    meta    jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (node_id, ref)
);

CREATE INDEX presence_topic ON presence (topic);

-- NOTIFY is delivered at commit, in commit order. Payloads are at most 8000 bytes: nodes keep
-- keys and metadata small (src/presence.rs caps them).
CREATE FUNCTION cinder_notify_presence() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('cinder_presence', json_build_object(
            'op', 'leave', 'node', OLD.node_id, 'ref', OLD.ref, 'topic', OLD.topic)::text);
        RETURN OLD;
    END IF;
    PERFORM pg_notify('cinder_presence', json_build_object(
        'op', 'join', 'node', NEW.node_id, 'ref', NEW.ref, 'topic', NEW.topic,
        'key', NEW.key, 'meta', NEW.meta)::text);
    RETURN NEW;
END
$$;

CREATE TRIGGER presence_notify
    AFTER INSERT OR UPDATE OR DELETE ON presence
    FOR EACH ROW
EXECUTE FUNCTION cinder_notify_presence();
