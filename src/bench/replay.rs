//! `replay`: rebuilding every projection from a large log, next to a plain streaming `SELECT`
//! of the same rows in the same order (the limit: a rebuild must at least read them).

use std::time::Instant;

use futures_util::TryStreamExt;
use sqlx::Row;

use super::node::Database;
use super::report::Report;
use super::{seed, BenchArgs, BenchError};
use crate::config::Config;

/// Rooms the events are spread over.
const ROOMS: usize = 1000;

pub async fn replay(args: &BenchArgs) -> Result<Report, BenchError> {
    let db = Database::create(&args.postgres, "replay").await?;
    let rooms: Vec<String> = (0..ROOMS).map(|i| format!("replay-{i}")).collect();
    let per_room = args.events.div_ceil(ROOMS);
    eprintln!("bench replay: writing {} events", per_room * ROOMS);
    let mut conn = db.connect().await?;
    seed::messages(&mut conn, &rooms, per_room).await?;
    sqlx::query("VACUUM ANALYZE events")
        .execute(&mut conn)
        .await?;
    // Settle the cluster before measuring: without it, the checkpoints that writing a million
    // events set off are still writing while the rebuild runs (rebuild 325,000 events/s
    // against 425,000–447,000 once settled; the SELECT about the same either way).
    sqlx::query("CHECKPOINT").execute(&mut conn).await?;

    eprintln!("bench replay: streaming SELECT");
    let started = Instant::now();
    let mut rows = sqlx::query(
        "SELECT position, tx_id::text AS tx, aggregate_type, aggregate_id, sequence,
                event_type, event_version, payload, metadata, recorded_at
           FROM events ORDER BY tx_id, position",
    )
    .fetch(&mut conn);
    let mut read = 0usize;
    while let Some(row) = rows.try_next().await? {
        read += usize::from(!row.is_empty());
    }
    drop(rows);
    let select_rate = read as f64 / started.elapsed().as_secs_f64();

    eprintln!("bench replay: rebuilding the read models");
    let data_dir = std::env::temp_dir().join(format!("cinder-bench-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let config = Config::new(Some(db.url.clone()), data_dir.clone());
    let rebuilt = crate::replay::replay(&config, None, true).await?;
    let _ = std::fs::remove_dir_all(&data_dir);
    drop(conn);
    db.drop().await?;

    let mut report = Report::new("replay");
    report.setting("events", read);
    report.setting("projections", rebuilt.projections.join("+"));
    report.row("rebuild", rebuilt.events_per_second(), "events/s");
    report.row("rebuild time", rebuilt.elapsed.as_secs_f64(), "s");
    report.row("streaming SELECT (the limit)", select_rate, "rows/s");
    report.row_with_goal(
        "rebuild / SELECT",
        rebuilt.events_per_second() / select_rate,
        "×",
        "≥ 0.5",
    );
    Ok(report)
}
