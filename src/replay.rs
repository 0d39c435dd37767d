//! `cinder replay`: rebuild read models from the event store.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::projections::ProjectionRunner;
use crate::pubsub::PubSub;
use crate::read_models::ReadModels;
use crate::server::{event_log, StartError};

/// What a replay did.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    pub projections: Vec<&'static str>,
    pub events: usize,
    pub elapsed: Duration,
}

impl ReplayReport {
    pub fn events_per_second(&self) -> f64 {
        rate(self.events as u64, self.elapsed)
    }
}

/// Events per second over the whole run so far: what the progress bar shows and the summary
/// says, so the two agree (indicatif's own `per_sec` is a moving estimate, shown to 4 decimals).
pub fn rate(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// `rate` rounded to whole events, with thousands separators: `81,552 events/s`.
pub fn format_rate(rate: f64) -> String {
    format!("{} events/s", indicatif::HumanCount(rate.round() as u64))
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no projection named {name:?}; there are: {known}")]
    UnknownProjection { name: String, known: String },
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    ReadModels(#[from] cinder_read_models::ProjectionError),
    #[error(transparent)]
    Run(#[from] crate::projections::RunError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Wipes projection `only` (or all of them) and folds the whole log into it again, streaming the
/// log in batches (see [`ProjectionRunner::rebuild_with`]). The node must not be serving from
/// the same data dir meanwhile (sled keeps it locked).
pub async fn replay(
    config: &Config,
    only: Option<&str>,
    show_progress: bool,
) -> Result<ReplayReport, ReplayError> {
    let _held =
        crate::data_dir::DataDirLock::acquire(&config.data_dir).map_err(StartError::from)?;
    let log = event_log(config).await?;
    let models = ReadModels::open(&config.data_dir.join("read_models"), crate::web::APPS)?;
    let mut runner = ProjectionRunner::new(
        &models.db,
        log.clone(),
        PubSub::default(),
        models.projections(),
    )?;
    let names = runner.names();
    let chosen: Vec<&'static str> = match only {
        Some(name) => vec![*names.iter().find(|n| **n == name).ok_or_else(|| {
            ReplayError::UnknownProjection {
                name: name.to_owned(),
                known: names.join(", "),
            }
        })?],
        None => names.clone(),
    };
    for name in &chosen {
        runner.reset(name)?;
    }
    // Projections that have applied nothing yet (a new data dir) are rebuilt the same way:
    // caught up as usual they would be folded a transaction per batch, three times slower.
    let fresh = runner.fresh();
    let rebuilt: Vec<&'static str> = names
        .iter()
        .copied()
        .filter(|name| chosen.contains(name) || fresh.contains(name))
        .collect();
    let total = log.count().await?;
    let bar = if show_progress {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    let started = Instant::now();
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {human_pos}/{human_len} events {rate} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key(
                "rate",
                move |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                    let _ = out.write_str(&format_rate(rate(state.pos(), started.elapsed())));
                },
            ),
    );
    let events = runner.rebuild_with(&rebuilt, |n| bar.inc(n as u64)).await?;
    models
        .db
        .flush_async()
        .await
        .map_err(cinder_read_models::ProjectionError::from)?;
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    Ok(ReplayReport {
        projections: rebuilt,
        events,
        elapsed,
    })
}
