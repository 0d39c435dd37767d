-- The explorer's tail filtered by aggregate type (`/events?type=Room`): newest first within
-- one type, read on this index instead of walking the whole log backwards and discarding
-- every other type (a type with no events at all used to cost a scan of the log).
CREATE INDEX IF NOT EXISTS events_type_position ON events (aggregate_type, position);
