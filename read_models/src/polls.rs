//! The polls read model: each poll with its counts, the open polls newest first, and each
//! voter's current choice.
//!
//! `polls.polls` maps a poll id to the poll (question, options, a count per option, closed or
//! not, its creator). `polls.open` maps `position of its creation (big-endian) ++ id` to the
//! id, so open polls are read newest first, a page at a time, and a closed one leaves the list.
//! `polls.votes` maps `poll id ++ 0x00 ++ voter` to the option the voter chose, so a page shows
//! its visitor their own vote and nobody else's.

use chrono::{DateTime, Utc};
use cinder_domain::polls::{PollEvent, MAX_OPTIONS};
use serde::{Deserialize, Serialize};
use sled::transaction::TransactionalTree;

use crate::codec::{abort, decode, encode};
use crate::projection::apply_each;
use crate::{
    Change, LogEvent, Projection, ProjectionError, RawEvent, StoredEvent, Trees, TxResult,
    WriteBuffer,
};

/// A poll as everyone may see it: its question, options and counts; also its JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicPoll {
    pub id: String,
    pub question: String,
    pub options: Vec<String>,
    /// Votes for each option, in the options' order.
    pub counts: Vec<u64>,
    /// Votes in all (each voter counts once, for their latest choice).
    pub total: u64,
    /// Closed polls count no more votes.
    pub closed: bool,
    pub created_at: DateTime<Utc>,
}

/// A poll as the read model keeps it: what everyone sees, and who may close it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollView {
    pub poll: PublicPoll,
    /// The creator's id (derived from their session by the server; never shown).
    pub creator: String,
    /// The log position of its creation: its place in the list of open polls.
    pub position: i64,
}

/// What the polls projection changed.
#[derive(Debug, Clone, PartialEq)]
pub enum PollChange {
    /// The poll as it is now, after a vote counted or it closed: for its page and channel.
    Updated(PublicPoll),
    /// An open poll as the list shows it, new or with new counts.
    Listed(PublicPoll),
    /// A poll left the list of open polls (it closed).
    Unlisted { id: String },
    /// `voter`'s vote in poll `poll_id` is now for `option`: for the voter's own pages.
    Voted {
        poll_id: String,
        voter: String,
        option: usize,
    },
}

impl PollChange {
    pub fn topic(&self) -> String {
        match self {
            PollChange::Updated(poll) => poll_topic(&poll.id),
            PollChange::Listed(_) | PollChange::Unlisted { .. } => OPEN_TOPIC.to_owned(),
            PollChange::Voted { voter, .. } => voter_topic(voter),
        }
    }
}

impl From<PollChange> for Change {
    /// The change, announced on its topic.
    fn from(change: PollChange) -> Change {
        Change::new(change.topic(), change)
    }
}

/// The pubsub topic on which one poll's counts and closing are announced.
pub fn poll_topic(id: &str) -> String {
    format!("polls/poll/{id}")
}

/// The pubsub topic on which one voter's votes are announced (only their own views follow it).
pub fn voter_topic(voter: &str) -> String {
    format!("polls/voter/{voter}")
}

/// The pubsub topic on which the list of open polls changes.
pub const OPEN_TOPIC: &str = "polls/open";

const POLLS: usize = 0;
const OPEN: usize = 1;
const VOTES: usize = 2;

/// The polls projection and its queries.
#[derive(Clone)]
pub struct PollsReadModel {
    polls: sled::Tree,
    open: sled::Tree,
    votes: sled::Tree,
}

impl PollsReadModel {
    pub fn open(db: &sled::Db) -> Result<Self, ProjectionError> {
        Ok(Self {
            polls: db.open_tree("polls.polls")?,
            open: db.open_tree("polls.open")?,
            votes: db.open_tree("polls.votes")?,
        })
    }

    pub fn get(&self, id: &str) -> Result<Option<PollView>, ProjectionError> {
        self.polls
            .get(id.as_bytes())?
            .map(|value| decode(&value))
            .transpose()
    }

    /// Open polls created before poll `before` (from the newest if `None`), newest first,
    /// read as they are taken.
    pub fn open_before(
        &self,
        before: Option<&str>,
    ) -> Result<impl Iterator<Item = Result<PollView, ProjectionError>> + '_, ProjectionError> {
        let end = match before {
            None => None,
            Some(id) => Some(match self.get(id)? {
                Some(poll) => open_key(poll.position, id),
                // An unknown poll continues nowhere.
                None => Vec::new(),
            }),
        };
        let range = match end {
            Some(end) => self.open.range(..end),
            None => self.open.range::<&[u8], _>(..),
        };
        Ok(range.rev().map(move |entry| {
            let (_, id) = entry?;
            let id = String::from_utf8_lossy(&id).into_owned();
            self.get(&id)?
                .ok_or_else(|| ProjectionError::Corrupt(format!("open poll {id} is missing")))
        }))
    }

    /// The option `voter` chose in poll `poll_id`, if they voted.
    pub fn vote_of(&self, poll_id: &str, voter: &str) -> Result<Option<usize>, ProjectionError> {
        self.votes
            .get(vote_key(poll_id, voter))?
            .map(|value| decode(&value))
            .transpose()
    }
}

/// `position (big-endian, as unsigned) ++ id`: open polls in creation order.
fn open_key(position: i64, id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + id.len());
    key.extend_from_slice(&(position as u64 ^ (1 << 63)).to_be_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

fn vote_key(poll_id: &str, voter: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(poll_id.len() + 1 + voter.len());
    key.extend_from_slice(poll_id.as_bytes());
    key.push(0);
    key.extend_from_slice(voter.as_bytes());
    key
}

impl Projection for PollsReadModel {
    fn name(&self) -> &'static str {
        "polls"
    }

    fn version(&self) -> u32 {
        1
    }

    fn trees(&self) -> Vec<sled::Tree> {
        vec![self.polls.clone(), self.open.clone(), self.votes.clone()]
    }

    fn apply(
        &self,
        trees: &[TransactionalTree],
        event: &StoredEvent,
        changes: &mut Vec<Change>,
    ) -> TxResult<()> {
        fold(trees, event, changes)
    }

    fn apply_buffered(
        &self,
        trees: &WriteBuffer,
        events: &[RawEvent],
    ) -> Option<Result<(), ProjectionError>> {
        Some(apply_each(trees, events, |trees, event, changes| {
            fold(trees, event, changes)
        }))
    }
}

fn fold<T: Trees + ?Sized>(
    trees: &T,
    event: &impl LogEvent,
    changes: &mut Vec<Change>,
) -> TxResult<()> {
    if event.aggregate_type() != "Poll" {
        return Ok(());
    }
    let decoded: PollEvent = event
        .decode(&[])
        .map_err(|e| abort(ProjectionError::decode(event, e)))?;
    let id = event.aggregate_id();
    match decoded {
        PollEvent::PollCreated(created) => {
            let options = created.options.len().min(MAX_OPTIONS);
            let view = PollView {
                poll: PublicPoll {
                    id: id.to_owned(),
                    question: created.question,
                    options: created.options,
                    counts: vec![0; options],
                    total: 0,
                    closed: false,
                    created_at: created.created_at,
                },
                creator: created.creator,
                position: event.position(),
            };
            trees.insert(POLLS, id.as_bytes(), &encode(&view)?)?;
            trees.insert(OPEN, &open_key(view.position, id), id.as_bytes())?;
            changes.push(PollChange::Listed(view.poll).into());
        }
        PollEvent::VoteCast(vote) => {
            let mut view = stored(trees, event)?;
            let counts = &mut view.poll.counts;
            match vote.previous.and_then(|previous| counts.get_mut(previous)) {
                Some(left) => *left = left.saturating_sub(1),
                None => view.poll.total += 1,
            }
            if let Some(chosen) = counts.get_mut(vote.option) {
                *chosen += 1;
            }
            trees.insert(POLLS, id.as_bytes(), &encode(&view)?)?;
            trees.insert(VOTES, &vote_key(id, &vote.voter), &encode(&vote.option)?)?;
            changes.push(PollChange::Updated(view.poll.clone()).into());
            changes.push(PollChange::Listed(view.poll).into());
            changes.push(
                PollChange::Voted {
                    poll_id: id.to_owned(),
                    voter: vote.voter,
                    option: vote.option,
                }
                .into(),
            );
        }
        PollEvent::PollClosed(_) => {
            let mut view = stored(trees, event)?;
            view.poll.closed = true;
            trees.insert(POLLS, id.as_bytes(), &encode(&view)?)?;
            trees.remove(OPEN, &open_key(view.position, id))?;
            changes.push(PollChange::Updated(view.poll).into());
            changes.push(PollChange::Unlisted { id: id.to_owned() }.into());
        }
    }
    Ok(())
}

/// The poll an event after its creation concerns. The aggregate refuses votes and closing
/// before creation, so a missing poll means the read model does not match the log.
fn stored<T: Trees + ?Sized>(trees: &T, event: &impl LogEvent) -> TxResult<PollView> {
    match trees.get(POLLS, event.aggregate_id().as_bytes())? {
        Some(value) => decode(&value).map_err(abort),
        None => Err(abort(ProjectionError::Corrupt(format!(
            "poll {} unknown at position {}",
            event.aggregate_id(),
            event.position()
        )))),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use cinder_domain::polls::{PollClosed, PollCreated, VoteCast};
    use cqrs_es::DomainEvent;

    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap()
    }

    fn stored_event(id: &str, position: i64, event: PollEvent) -> StoredEvent {
        StoredEvent {
            position,
            tx: position as u64,
            aggregate_type: "Poll".into(),
            aggregate_id: id.into(),
            sequence: position,
            event_type: event.event_type(),
            event_version: event.event_version(),
            payload: serde_json::to_value(&event).unwrap(),
            metadata: serde_json::json!({}),
            recorded_at: at(),
        }
    }

    fn created(id: &str, position: i64) -> StoredEvent {
        stored_event(
            id,
            position,
            PollEvent::PollCreated(PollCreated {
                id: id.into(),
                creator: "ada".into(),
                question: format!("Question {id}?"),
                options: vec!["Tabs".into(), "Spaces".into(), "Both".into()],
                created_at: at(),
            }),
        )
    }

    fn vote(
        id: &str,
        position: i64,
        voter: &str,
        option: usize,
        previous: Option<usize>,
    ) -> StoredEvent {
        stored_event(
            id,
            position,
            PollEvent::VoteCast(VoteCast {
                poll_id: id.into(),
                voter: voter.into(),
                option,
                previous,
                cast_at: at(),
            }),
        )
    }

    fn apply(polls: &PollsReadModel, events: &[StoredEvent]) -> Vec<Change> {
        use sled::Transactional;
        let trees = polls.trees();
        trees
            .as_slice()
            .transaction(|views: &Vec<TransactionalTree>| {
                let mut changes = Vec::new();
                for event in events {
                    polls.apply(views, event, &mut changes)?;
                }
                Ok(changes)
            })
            .unwrap()
    }

    fn model() -> PollsReadModel {
        let db = sled::Config::new().temporary(true).open().unwrap();
        PollsReadModel::open(&db).unwrap()
    }

    #[test]
    fn a_moved_vote_moves_one_count_and_each_voter_counts_once() {
        let polls = model();
        apply(
            &polls,
            &[
                created("p1", 1),
                vote("p1", 2, "ada", 0, None),
                vote("p1", 3, "bob", 0, None),
                vote("p1", 4, "ada", 2, Some(0)),
            ],
        );
        let poll = polls.get("p1").unwrap().unwrap().poll;
        assert_eq!(poll.counts, vec![1, 0, 1]);
        assert_eq!(poll.total, 2);
        assert_eq!(polls.vote_of("p1", "ada").unwrap(), Some(2));
        assert_eq!(polls.vote_of("p1", "bob").unwrap(), Some(0));
        assert_eq!(polls.vote_of("p1", "cy").unwrap(), None);
    }

    #[test]
    fn open_polls_are_listed_newest_first_until_they_close() {
        let polls = model();
        apply(&polls, &[created("a", 1), created("b", 2), created("c", 3)]);
        let ids = |before: Option<&str>| -> Vec<String> {
            polls
                .open_before(before)
                .unwrap()
                .map(|p| p.unwrap().poll.id)
                .collect()
        };
        assert_eq!(ids(None), ["c", "b", "a"]);
        assert_eq!(ids(Some("b")), ["a"]);
        let changes = apply(
            &polls,
            &[stored_event(
                "b",
                4,
                PollEvent::PollClosed(PollClosed {
                    poll_id: "b".into(),
                    closed_at: at(),
                }),
            )],
        );
        assert_eq!(ids(None), ["c", "a"]);
        assert!(polls.get("b").unwrap().unwrap().poll.closed);
        let topics: Vec<&str> = changes.iter().map(Change::topic).collect();
        assert_eq!(topics, ["polls/poll/b", OPEN_TOPIC]);
    }

    #[test]
    fn a_vote_is_announced_to_the_poll_the_list_and_the_voter_alone() {
        let polls = model();
        apply(&polls, &[created("p1", 1)]);
        let changes = apply(&polls, &[vote("p1", 2, "ada", 1, None)]);
        let topics: Vec<&str> = changes.iter().map(Change::topic).collect();
        assert_eq!(topics, ["polls/poll/p1", OPEN_TOPIC, "polls/voter/ada"]);
        let Some(PollChange::Updated(poll)) = changes[0].get::<PollChange>() else {
            panic!("{changes:?}")
        };
        assert_eq!(poll.counts, vec![0, 1, 0]);
    }
}
