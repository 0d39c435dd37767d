//! Polls: a question with 2–10 options; each visitor has one vote, which they may move; the
//! creator may close the poll, after which no vote counts.
//!
//! The poll is the aggregate. It keeps each voter's current choice, which is all its rules
//! need: a vote for the option already chosen changes nothing and records nothing, a vote for
//! another option moves the voter's vote (the event names the option it left, so a projection
//! can move one count without knowing who voted). Voters and the creator are opaque ids derived
//! from their sessions by the server; who voted for what is private and only counts are shown.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::{fingerprint, has_control, Clock, FieldErrors, Rejection, NO_CONTROL};

pub const MAX_QUESTION_CHARS: usize = 200;
pub const MIN_OPTIONS: usize = 2;
pub const MAX_OPTIONS: usize = 10;
pub const MAX_OPTION_CHARS: usize = 100;

/// A new poll's id, made of 64 random bits: 16 hex digits. The caller draws the bits (the
/// domain stays pure).
pub fn new_id(random: u64) -> String {
    format!("{random:016x}")
}

/// Whether `id` could be a poll's id (what [`new_id`] makes), so it can name a page, a topic
/// or an aggregate.
pub fn is_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PollCommand {
    CreatePoll(CreatePoll),
    CastVote(CastVote),
    ClosePoll(ClosePoll),
}

/// Ask a question. `creator` is who asks (the only one who may close it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatePoll {
    pub id: String,
    pub creator: String,
    pub question: String,
    /// As typed: blank entries (an unused form field) are skipped.
    pub options: Vec<String>,
}

/// Vote for option `option` (numbered from 0, in the poll's order), or move one's vote there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CastVote {
    pub voter: String,
    pub option: usize,
}

/// End the voting; only the creator may.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosePoll {
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PollEvent {
    PollCreated(PollCreated),
    VoteCast(VoteCast),
    PollClosed(PollClosed),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollCreated {
    pub id: String,
    pub creator: String,
    pub question: String,
    pub options: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// `voter` now votes for `option`; `previous` is the option their vote left, if they had one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteCast {
    pub poll_id: String,
    pub voter: String,
    pub option: usize,
    pub previous: Option<usize>,
    pub cast_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollClosed {
    pub poll_id: String,
    pub closed_at: DateTime<Utc>,
}

impl DomainEvent for PollEvent {
    fn event_type(&self) -> String {
        match self {
            PollEvent::PollCreated(_) => "PollCreated".into(),
            PollEvent::VoteCast(_) => "VoteCast".into(),
            PollEvent::PollClosed(_) => "PollClosed".into(),
        }
    }

    fn event_version(&self) -> String {
        "1.0".into()
    }
}

/// Why a poll command was refused. `Invalid` lists every broken rule of a `CreatePoll`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    #[error("{0}")]
    Invalid(FieldErrors),
    #[error("this poll already exists")]
    AlreadyExists,
    #[error("no such poll")]
    NotFound,
    #[error("no such option")]
    UnknownOption,
    #[error("this poll is closed; votes are no longer counted")]
    Closed,
    #[error("only the poll's creator can close it")]
    NotCreator,
}

impl Rejection for PollError {
    fn field(&self) -> &'static str {
        match self {
            PollError::Invalid(errors) => errors.first_field("poll"),
            PollError::AlreadyExists | PollError::NotFound | PollError::NotCreator => "poll",
            PollError::UnknownOption | PollError::Closed => "option",
        }
    }

    fn errors(&self) -> Vec<(&'static str, String)> {
        match self {
            PollError::Invalid(errors) => errors.0.clone(),
            other => vec![(other.field(), other.to_string())],
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct PollServices {
    pub clock: Clock,
}

/// A poll: whether it exists, who made it, how many options, whether it is closed, and each
/// voter's current choice, by the voter's [`fingerprint`] (a poll may have many voters, and its
/// state is copied for every vote).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Poll {
    id: String,
    creator: Option<String>,
    options: usize,
    closed: bool,
    votes: HashMap<u64, usize>,
}

impl Aggregate for Poll {
    const TYPE: &'static str = "Poll";
    type Command = PollCommand;
    type Event = PollEvent;
    type Error = PollError;
    type Services = PollServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let now = services.clock.now();
        let event = match command {
            PollCommand::CreatePoll(create) => {
                if self.creator.is_some() {
                    return Err(PollError::AlreadyExists);
                }
                PollEvent::PollCreated(check_new(create, now)?)
            }
            PollCommand::CastVote(vote) => {
                self.open()?;
                if vote.option >= self.options {
                    return Err(PollError::UnknownOption);
                }
                let previous = self.votes.get(&fingerprint(&vote.voter)).copied();
                if previous == Some(vote.option) {
                    return Ok(());
                }
                PollEvent::VoteCast(VoteCast {
                    poll_id: self.id.clone(),
                    voter: vote.voter,
                    option: vote.option,
                    previous,
                    cast_at: now,
                })
            }
            PollCommand::ClosePoll(close) => {
                self.open()?;
                if self.creator.as_deref() != Some(close.by.as_str()) {
                    return Err(PollError::NotCreator);
                }
                PollEvent::PollClosed(PollClosed {
                    poll_id: self.id.clone(),
                    closed_at: now,
                })
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            PollEvent::PollCreated(created) => {
                self.id = created.id;
                self.creator = Some(created.creator);
                self.options = created.options.len();
            }
            PollEvent::VoteCast(vote) => {
                self.votes.insert(fingerprint(&vote.voter), vote.option);
            }
            PollEvent::PollClosed(_) => self.closed = true,
        }
    }
}

impl Poll {
    /// Refuses what only an existing, open poll accepts.
    fn open(&self) -> Result<(), PollError> {
        if self.creator.is_none() {
            return Err(PollError::NotFound);
        }
        if self.closed {
            return Err(PollError::Closed);
        }
        Ok(())
    }
}

/// Checks every field of a new poll, collecting every problem: what `CreatePoll` is refused
/// by, and what a form asks as it is filled in (so no rule is written twice).
pub fn check_new(create: CreatePoll, now: DateTime<Utc>) -> Result<PollCreated, PollError> {
    let mut errors = Vec::new();
    let question = create.question.trim();
    if question.is_empty() {
        errors.push(("question", "can't be blank".to_owned()));
    } else if question.chars().count() > MAX_QUESTION_CHARS {
        errors.push(("question", "should be at most 200 characters".to_owned()));
    } else if has_control(question, false) {
        errors.push(("question", NO_CONTROL.to_owned()));
    }
    let options: Vec<String> = create
        .options
        .iter()
        .map(|option| option.trim())
        .filter(|option| !option.is_empty())
        .map(str::to_owned)
        .collect();
    if let Err(message) = check_options(&options) {
        errors.push(("options", message));
    }
    if !errors.is_empty() {
        return Err(PollError::Invalid(FieldErrors(errors)));
    }
    Ok(PollCreated {
        id: create.id,
        creator: create.creator,
        question: question.to_owned(),
        options,
        created_at: now,
    })
}

/// 2–10 options, each 1–100 characters, no two the same (ignoring case).
fn check_options(options: &[String]) -> Result<(), String> {
    if options.len() < MIN_OPTIONS {
        return Err("give at least 2 options".to_owned());
    }
    if options.len() > MAX_OPTIONS {
        return Err("give at most 10 options".to_owned());
    }
    for (n, option) in options.iter().enumerate() {
        if option.chars().count() > MAX_OPTION_CHARS {
            return Err(format!("option {} should be at most 100 characters", n + 1));
        }
        if has_control(option, false) {
            return Err(format!("option {} {NO_CONTROL}", n + 1));
        }
        let lower = option.to_lowercase();
        if options[..n]
            .iter()
            .any(|earlier| earlier.to_lowercase() == lower)
        {
            return Err(format!("{option:?} is given twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
    }

    fn poll() -> TestFramework<Poll> {
        TestFramework::<Poll>::with(PollServices {
            clock: Clock::fixed(now()),
        })
    }

    fn create(question: &str, options: &[&str]) -> PollCommand {
        PollCommand::CreatePoll(CreatePoll {
            id: "p1".into(),
            creator: "ada".into(),
            question: question.into(),
            options: options.iter().map(|o| o.to_string()).collect(),
        })
    }

    fn created() -> PollEvent {
        PollEvent::PollCreated(PollCreated {
            id: "p1".into(),
            creator: "ada".into(),
            question: "Tabs or spaces?".into(),
            options: vec!["Tabs".into(), "Spaces".into()],
            created_at: now(),
        })
    }

    fn vote(voter: &str, option: usize) -> PollCommand {
        PollCommand::CastVote(CastVote {
            voter: voter.into(),
            option,
        })
    }

    fn cast(voter: &str, option: usize, previous: Option<usize>) -> PollEvent {
        PollEvent::VoteCast(VoteCast {
            poll_id: "p1".into(),
            voter: voter.into(),
            option,
            previous,
            cast_at: now(),
        })
    }

    fn close(by: &str) -> PollCommand {
        PollCommand::ClosePoll(ClosePoll { by: by.into() })
    }

    fn closed() -> PollEvent {
        PollEvent::PollClosed(PollClosed {
            poll_id: "p1".into(),
            closed_at: now(),
        })
    }

    fn invalid(errors: &[(&'static str, &str)]) -> PollError {
        PollError::Invalid(FieldErrors(
            errors.iter().map(|(f, m)| (*f, m.to_string())).collect(),
        ))
    }

    #[test]
    fn a_poll_is_created_trimmed_with_blank_options_skipped() {
        poll()
            .given_no_previous_events()
            .when(create(
                "  Tabs or spaces? ",
                &[" Tabs", "", "Spaces  ", "  "],
            ))
            .then_expect_events(vec![created()]);
    }

    #[test]
    fn every_broken_rule_of_a_new_poll_is_reported() {
        poll()
            .given_no_previous_events()
            .when(create(" ", &["only one"]))
            .then_expect_error(invalid(&[
                ("question", "can't be blank"),
                ("options", "give at least 2 options"),
            ]));
        let long = "x".repeat(201);
        poll()
            .given_no_previous_events()
            .when(create(&long, &["a", "b"]))
            .then_expect_error(invalid(&[("question", "should be at most 200 characters")]));
        let eleven: Vec<String> = (0..11).map(|n| n.to_string()).collect();
        let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
        poll()
            .given_no_previous_events()
            .when(create("Pick", &eleven))
            .then_expect_error(invalid(&[("options", "give at most 10 options")]));
        let long_option = "o".repeat(101);
        poll()
            .given_no_previous_events()
            .when(create("Pick", &["a", &long_option]))
            .then_expect_error(invalid(&[(
                "options",
                "option 2 should be at most 100 characters",
            )]));
    }

    #[test]
    fn options_must_be_distinct_ignoring_case() {
        poll()
            .given_no_previous_events()
            .when(create("Pick", &["Tabs", "Spaces", "tabs"]))
            .then_expect_error(invalid(&[("options", "\"tabs\" is given twice")]));
    }

    #[test]
    fn control_characters_are_refused() {
        poll()
            .given_no_previous_events()
            .when(create("Tabs\u{0}?", &["a", "b\u{7}"]))
            .then_expect_error(invalid(&[
                ("question", "can't contain control characters"),
                ("options", "option 2 can't contain control characters"),
            ]));
    }

    #[test]
    fn a_poll_is_created_once() {
        poll()
            .given(vec![created()])
            .when(create("Again?", &["yes", "no"]))
            .then_expect_error(PollError::AlreadyExists);
    }

    #[test]
    fn a_vote_is_counted_and_can_move() {
        poll()
            .given(vec![created()])
            .when(vote("bob", 1))
            .then_expect_events(vec![cast("bob", 1, None)]);
        poll()
            .given(vec![created(), cast("bob", 1, None)])
            .when(vote("bob", 0))
            .then_expect_events(vec![cast("bob", 0, Some(1))]);
    }

    #[test]
    fn voting_again_for_the_same_option_records_nothing() {
        poll()
            .given(vec![created(), cast("bob", 1, None)])
            .when(vote("bob", 1))
            .then_expect_events(vec![]);
    }

    #[test]
    fn votes_for_unknown_options_or_polls_are_refused() {
        poll()
            .given(vec![created()])
            .when(vote("bob", 2))
            .then_expect_error(PollError::UnknownOption);
        poll()
            .given_no_previous_events()
            .when(vote("bob", 0))
            .then_expect_error(PollError::NotFound);
    }

    #[test]
    fn only_the_creator_closes_and_then_votes_are_refused() {
        poll()
            .given(vec![created()])
            .when(close("bob"))
            .then_expect_error(PollError::NotCreator);
        poll()
            .given(vec![created()])
            .when(close("ada"))
            .then_expect_events(vec![closed()]);
        poll()
            .given(vec![created(), closed()])
            .when(vote("bob", 0))
            .then_expect_error(PollError::Closed);
        poll()
            .given(vec![created(), closed()])
            .when(close("ada"))
            .then_expect_error(PollError::Closed);
    }

    #[test]
    fn ids_are_sixteen_hex_digits() {
        assert_eq!(new_id(0xab), "00000000000000ab");
        assert!(is_id(&new_id(u64::MAX)));
        for bad in [
            "",
            "00000000000000AB",
            "00000000000000a",
            "000000000000000g",
            "../../etc",
        ] {
            assert!(!is_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn refusals_name_their_field() {
        assert_eq!(PollError::Closed.field(), "option");
        assert_eq!(
            PollError::Closed.errors(),
            vec![(
                "option",
                "this poll is closed; votes are no longer counted".to_owned()
            )]
        );
        assert_eq!(
            invalid(&[("question", "can't be blank")]).field(),
            "question"
        );
    }
}
