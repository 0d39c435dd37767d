//! Contexts, in Phoenix's sense: each app's commands as plain functions
//! (`chat::send_message(&ctx, input)`) that validate, execute and wait for read-your-writes once,
//! called alike by the app's live views, form posts, JSON API and channels. A [`Context`] is
//! what such a function takes: the node to run on and, when one is known, the visitor it acts
//! for. Refusals come back as the bus's [`CommandError`], which `super::errors` turns into
//! replies, statuses and form messages in one place.

use cqrs_es::Aggregate;

use super::session::Session;
use super::AppState;
use crate::bus::{CommandError, Committed};

/// What a command function runs with. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    /// The node: its bus, read models, pubsub and settings.
    pub app: AppState,
    /// The visitor the command is for (a page, a form post, a channel joined with a token), or
    /// `None` for a program or background work acting for nobody in particular.
    pub visitor: Option<Session>,
}

impl Context {
    /// A context acting for nobody in particular (the JSON API, a process manager).
    pub fn new(app: &AppState) -> Self {
        Context {
            app: app.clone(),
            visitor: None,
        }
    }

    /// A context acting for the visitor of `session`.
    pub fn for_visitor(app: &AppState, session: &Session) -> Self {
        Context {
            app: app.clone(),
            visitor: Some(session.clone()),
        }
    }

    /// Runs `command` on aggregate `id` of type `A` through the node's bus, then waits until
    /// this node's read models have what it committed (see
    /// [`crate::projections::Progress::read_your_writes`]), so the caller's next read shows it.
    /// The one place a command's sender waits.
    pub async fn execute<A>(
        &self,
        id: &str,
        command: A::Command,
    ) -> Result<Committed<A::Event>, CommandError<A::Error>>
    where
        A: Aggregate + Clone + 'static,
        A::Command: Clone,
    {
        let committed = self.app.bus.execute::<A>(id, command).await?;
        self.app.progress.read_your_writes(committed.last()).await;
        Ok(committed)
    }
}
