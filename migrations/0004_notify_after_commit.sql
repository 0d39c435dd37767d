-- Appends no longer NOTIFY from inside their transaction: Postgres serialises the commits of
-- every transaction that NOTIFYs, which capped appends at a few hundred per second. The node
-- that appends sends the NOTIFY after its commit instead (see `announce` in
-- src/store/postgres.rs); anything else that writes events is found by the tails' poll.
DROP TRIGGER IF EXISTS events_notify ON events;
DROP FUNCTION IF EXISTS cinder_notify_events();
