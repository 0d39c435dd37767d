//! Polls' commands, one function each: what the pages' live views, their form posts and the
//! JSON API all call. Each acts for the context's visitor (their [`voter_id`] votes and creates),
//! runs its command (the poll aggregate decides) and waits for read-your-writes once (see
//! [`Context::execute`]); callers only say the outcome in their own terms (a patch, a redirect,
//! a status).

use cinder_domain::polls::{
    new_id, CastVote, ClosePoll, CreatePoll, Poll, PollCommand, PollError,
};

use super::voter_id;
use crate::bus::CommandError;
use crate::web::context::Context;

/// A new poll as someone asks it: the question and the options as typed (blank ones skipped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewPoll {
    pub question: String,
    pub options: Vec<String>,
}

/// What a command wrote: the poll it concerns, and the global position of its last event
/// (`None` when it changed nothing, as a vote for the option already chosen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub poll_id: String,
    pub position: Option<i64>,
}

/// What a poll command answers.
pub type Outcome = Result<Done, CommandError<PollError>>;

/// Asks `poll` as the visitor, under a new random id; once this returns, this node's read
/// models show it.
pub async fn create_poll(ctx: &Context, poll: NewPoll) -> Outcome {
    let creator = visitor(ctx)?;
    let id = new_id(rand::random());
    let command = PollCommand::CreatePoll(CreatePoll {
        id: id.clone(),
        creator,
        question: poll.question,
        options: poll.options,
    });
    run(ctx, id, command).await
}

/// The visitor's vote in poll `poll_id` for option `option` (from 0), or their vote moved there.
pub async fn cast_vote(ctx: &Context, poll_id: &str, option: usize) -> Outcome {
    let voter = visitor(ctx)?;
    let command = PollCommand::CastVote(CastVote { voter, option });
    run(ctx, poll_id.to_owned(), command).await
}

/// Closes poll `poll_id`, if the visitor created it.
pub async fn close_poll(ctx: &Context, poll_id: &str) -> Outcome {
    let by = visitor(ctx)?;
    run(ctx, poll_id.to_owned(), PollCommand::ClosePoll(ClosePoll { by })).await
}

/// The context's visitor as a voter. A context for nobody cannot vote or ask.
fn visitor(ctx: &Context) -> Result<String, CommandError<PollError>> {
    match &ctx.visitor {
        Some(session) => Ok(voter_id(session)),
        None => Err(CommandError::Internal(
            "a poll command is a visitor's; this context has none".into(),
        )),
    }
}

async fn run(ctx: &Context, poll_id: String, command: PollCommand) -> Outcome {
    let committed = ctx.execute::<Poll>(&poll_id, command).await?;
    Ok(Done {
        poll_id,
        position: committed.position(),
    })
}
