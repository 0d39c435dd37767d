//! History written straight into the event store, as if it had been sent long ago: rooms full
//! of `MessageSent` events, made by Postgres itself in one statement.

use cinder_domain::chat::MESSAGE_SENT_VERSION;
use sqlx::PgConnection;

use super::BenchError;

/// Appends `per_room` messages to each of `rooms` (which must be empty), numbered from 1, with
/// content of about the size people type (60–70 characters).
pub async fn messages(
    db: &mut PgConnection,
    rooms: &[String],
    per_room: usize,
) -> Result<(), BenchError> {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         SELECT 'Room', room, n, 'MessageSent', $3,
                json_build_object('MessageSent', json_build_object(
                    'id', n,
                    'room', room,
                    'sender', 'seed' || (n % 50),
                    'content', 'seeded message ' || n || ', about as long as people type in chat',
                    'sent_at', to_char((now() AT TIME ZONE 'UTC') - make_interval(secs => ($2 - n)::float8),
                                       'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
                    'mentions', json_build_array())),
                '{}'::json
           FROM unnest($1::text[]) AS room, generate_series(1, $2::bigint) AS n
          ORDER BY room, n",
    )
    .bind(rooms)
    .bind(per_room as i64)
    .bind(MESSAGE_SENT_VERSION)
    .execute(db)
    .await?;
    Ok(())
}
