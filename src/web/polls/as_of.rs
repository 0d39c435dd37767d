//! A poll "as of" an event, for the explorer: rebuilt in a throwaway read model from its events
//! up to the chosen one, shown as its results then stood (counts only: who voted for what is
//! not shown, whoever looks).

use cinder_domain::StoredEvent;
use cinder_read_models::polls::PollsReadModel;
use cinder_read_models::ProjectionError;
use maud::{html, Markup};

use super::views::read_only_results;
use crate::web::events::{scratch_db, AsOf};

/// An empty "as of" view of poll `id`.
pub fn new(id: &str) -> Result<Box<dyn AsOf>, ProjectionError> {
    let db = scratch_db()?;
    Ok(Box::new(PollAsOf {
        polls: PollsReadModel::open(&db)?,
        id: id.to_owned(),
        _db: db,
    }))
}

struct PollAsOf {
    polls: PollsReadModel,
    id: String,
    _db: sled::Db,
}

impl AsOf for PollAsOf {
    fn fold(&self, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        cinder_read_models::fold(&self.polls, events)
    }

    /// The question and each option's count and share: at most 10 options of 100 characters,
    /// far below any budget.
    fn render(&self, _budget: usize) -> Result<Markup, ProjectionError> {
        Ok(match self.polls.get(&self.id)? {
            Some(view) => read_only_results(&view.poll),
            None => html! { p.muted { "Nothing yet." } },
        })
    }
}
