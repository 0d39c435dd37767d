//! The changes this node published lately, each tagged with the log position of the tail batch
//! that caused it: what a live page that reconnects (here, or after being served by another node
//! on the same log) missed, so it can be sent just that instead of its whole regions.
//!
//! Changes are kept as opaque values with their topic; the pubsub records them and the live
//! runtime replays them into a view. The budget is a count: the last [`CAPACITY`] changes.

use std::collections::VecDeque;

use cinder_domain::Cursor;

/// Changes remembered, at most. Past this the oldest are forgotten, and pages whose position is
/// older than what is left are sent their regions whole.
pub const CAPACITY: usize = 4096;

/// The last changes the log caused on this node, in the order they were published.
pub struct RecentChanges<T> {
    entries: VecDeque<Entry<T>>,
    capacity: usize,
    /// What is known: every change caused by an event after `floor`, up to `latest`, is in
    /// `entries`. `None` until this node knows where its tail starts.
    known: Option<Known>,
}

struct Entry<T> {
    /// The last event of the batch that caused the change.
    at: Cursor,
    topic: String,
    change: T,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Known {
    floor: Cursor,
    latest: Cursor,
}

/// What a page at some log position missed on its topics.
#[derive(Debug, PartialEq, Eq)]
pub enum Missed<T> {
    /// The changes on its topics since its position, oldest first (none: nothing happened).
    Changes(Vec<T>),
    /// More than the limit asked: cheaper to send the page whole.
    TooMany,
    /// Cannot tell: its position is older than what is remembered, later than what this node
    /// has reached, or this node remembers nothing yet.
    Unknown,
}

impl<T: Clone> RecentChanges<T> {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            known: None,
        }
    }

    /// The position every remembered change is at or before: what a page that has everything
    /// this node published can say it reflects.
    pub fn latest(&self) -> Option<Cursor> {
        self.known.map(|known| known.latest)
    }

    /// Starts remembering from `at`: what the log causes after it will be recorded. Nothing is
    /// forgotten if the record already reaches exactly `at`; otherwise (the first call, or after
    /// changes were announced without being recorded) the record starts over.
    pub fn start_at(&mut self, at: Cursor) {
        if self.latest() == Some(at) {
            return;
        }
        self.entries.clear();
        self.known = Some(Known {
            floor: at,
            latest: at,
        });
    }

    /// Records what the batch of events after `from`, up to `to`, changed. A batch that does not
    /// continue the record (its start is not where the record ends) starts it over at `from`.
    pub fn record(
        &mut self,
        from: Cursor,
        to: Cursor,
        changes: impl IntoIterator<Item = (String, T)>,
    ) {
        self.start_at(from);
        for (topic, change) in changes {
            if self.entries.len() == self.capacity {
                if let Some(oldest) = self.entries.pop_front() {
                    self.raise_floor(oldest.at);
                }
            }
            self.entries.push_back(Entry {
                at: to,
                topic,
                change,
            });
        }
        if let Some(known) = &mut self.known {
            known.latest = known.latest.max(to);
        }
    }

    fn raise_floor(&mut self, to: Cursor) {
        if let Some(known) = &mut self.known {
            known.floor = known.floor.max(to);
        }
    }

    /// What a page that reflects the log up to `since` missed on `topics`: at most `limit`
    /// changes, oldest first.
    pub fn missed(&self, since: Cursor, topics: &[String], limit: usize) -> Missed<T> {
        let Some(known) = self.known else {
            return Missed::Unknown;
        };
        if since < known.floor || since > known.latest {
            return Missed::Unknown;
        }
        let mut missed = Vec::new();
        // Entries are in position order: the newest first, until the page's position.
        for entry in self.entries.iter().rev() {
            if entry.at <= since {
                break;
            }
            if topics.contains(&entry.topic) {
                if missed.len() == limit {
                    return Missed::TooMany;
                }
                missed.push(entry.change.clone());
            }
        }
        missed.reverse();
        Missed::Changes(missed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(position: i64) -> Cursor {
        Cursor { tx: 1, position }
    }

    fn topics(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    fn batch(changes: &[(&str, u32)]) -> Vec<(String, u32)> {
        changes.iter().map(|(t, c)| ((*t).to_owned(), *c)).collect()
    }

    #[test]
    fn a_page_misses_only_later_changes_on_its_topics_in_order() {
        let mut recent = RecentChanges::new(CAPACITY);
        recent.start_at(at(10));
        recent.record(at(10), at(12), batch(&[("room:a", 1), ("room:b", 2)]));
        recent.record(at(12), at(15), batch(&[("room:a", 3), ("room:a", 4)]));
        assert_eq!(recent.latest(), Some(at(15)));
        let a = topics(&["room:a"]);
        assert_eq!(
            recent.missed(at(10), &a, 64),
            Missed::Changes(vec![1, 3, 4])
        );
        assert_eq!(recent.missed(at(12), &a, 64), Missed::Changes(vec![3, 4]));
        assert_eq!(recent.missed(at(15), &a, 64), Missed::Changes(vec![]));
        // A page from another node whose batch ended inside ours gets the whole batch again.
        assert_eq!(recent.missed(at(13), &a, 64), Missed::Changes(vec![3, 4]));
        assert_eq!(
            recent.missed(at(10), &topics(&["room:b", "room:c"]), 64),
            Missed::Changes(vec![2])
        );
    }

    #[test]
    fn past_the_limit_the_page_is_too_far_behind() {
        let mut recent = RecentChanges::new(CAPACITY);
        recent.start_at(at(0));
        recent.record(at(0), at(1), batch(&[("t", 1), ("t", 2), ("t", 3)]));
        assert_eq!(
            recent.missed(at(0), &topics(&["t"]), 3),
            Missed::Changes(vec![1, 2, 3])
        );
        assert_eq!(recent.missed(at(0), &topics(&["t"]), 2), Missed::TooMany);
    }

    #[test]
    fn positions_it_cannot_vouch_for_are_unknown() {
        let mut recent: RecentChanges<u32> = RecentChanges::new(CAPACITY);
        let t = topics(&["t"]);
        assert_eq!(
            recent.missed(at(5), &t, 64),
            Missed::Unknown,
            "nothing known yet"
        );
        recent.start_at(at(5));
        assert_eq!(recent.missed(at(5), &t, 64), Missed::Changes(vec![]));
        assert_eq!(
            recent.missed(at(4), &t, 64),
            Missed::Unknown,
            "before the start"
        );
        assert_eq!(
            recent.missed(at(6), &t, 64),
            Missed::Unknown,
            "ahead of this node"
        );
    }

    #[test]
    fn forgetting_the_oldest_raises_what_it_can_vouch_for() {
        let mut recent = RecentChanges::new(2);
        recent.start_at(at(0));
        recent.record(at(0), at(1), batch(&[("t", 1)]));
        recent.record(at(1), at(2), batch(&[("t", 2)]));
        recent.record(at(2), at(3), batch(&[("u", 3)]));
        let t = topics(&["t"]);
        assert_eq!(recent.missed(at(0), &t, 64), Missed::Unknown);
        assert_eq!(recent.missed(at(1), &t, 64), Missed::Changes(vec![2]));
        assert_eq!(recent.missed(at(2), &t, 64), Missed::Changes(vec![]));
    }

    #[test]
    fn a_batch_that_does_not_continue_the_record_starts_it_over() {
        let mut recent = RecentChanges::new(CAPACITY);
        recent.start_at(at(0));
        recent.record(at(0), at(1), batch(&[("t", 1)]));
        // Events 1..=7 were applied without being recorded (a rebuild, say).
        recent.record(at(7), at(9), batch(&[("t", 2)]));
        let t = topics(&["t"]);
        assert_eq!(recent.missed(at(1), &t, 64), Missed::Unknown);
        assert_eq!(recent.missed(at(7), &t, 64), Missed::Changes(vec![2]));
        // Starting again where the record ends keeps it.
        recent.start_at(at(9));
        assert_eq!(recent.missed(at(7), &t, 64), Missed::Changes(vec![2]));
    }
}
