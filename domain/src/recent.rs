//! The entries of a sliding window, oldest first, whose copy costs little however many it holds.
//!
//! The bus copies an aggregate for every command (the copy becomes the aggregate only if the
//! command's events commit), and a busy chat room keeps a minute of messages for its rate limit:
//! at 370 messages a second, 22,000 entries, half a megabyte copied per command, which grew with
//! the room's traffic. Here entries are kept in blocks; a full block never changes again and is
//! shared between copies, so a copy is one pointer per block plus the open block's few entries.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Entries per block.
const BLOCK: usize = 128;

#[derive(Clone)]
pub struct Recent<T> {
    /// Full blocks, oldest first, shared with copies.
    sealed: VecDeque<Arc<[T]>>,
    /// Entries of the first sealed block already dropped.
    skipped: usize,
    /// The newest entries, fewer than a block.
    open: Vec<T>,
}

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Self {
            sealed: VecDeque::new(),
            skipped: 0,
            open: Vec::new(),
        }
    }
}

impl<T: Clone> Recent<T> {
    /// Adds `entry` as the newest.
    pub fn push(&mut self, entry: T) {
        self.open.push(entry);
        if self.open.len() == BLOCK {
            let full = std::mem::replace(&mut self.open, Vec::with_capacity(BLOCK));
            self.sealed.push_back(full.into());
        }
    }

    /// Drops the oldest entries as long as `expired` says so of them.
    pub fn drop_while(&mut self, expired: impl Fn(&T) -> bool) {
        while let Some(block) = self.sealed.front() {
            match block[self.skipped..].iter().position(|e| !expired(e)) {
                Some(kept) => {
                    self.skipped += kept;
                    return;
                }
                None => {
                    self.sealed.pop_front();
                    self.skipped = 0;
                }
            }
        }
        let gone = self.open.iter().take_while(|e| expired(e)).count();
        self.open.drain(..gone);
    }
}

impl<T> Recent<T> {
    /// The entries, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        let mut blocks = self.sealed.iter();
        let first = blocks.next().map(|block| &block[self.skipped..]);
        first
            .into_iter()
            .chain(blocks.map(|block| &block[..]))
            .flatten()
            .chain(&self.open)
    }

    pub fn len(&self) -> usize {
        self.sealed.len() * BLOCK - self.skipped + self.open.len()
    }
}

impl<T: PartialEq> PartialEq for Recent<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<T: Eq> Eq for Recent<T> {}

impl<T: fmt::Debug> fmt::Debug for Recent<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// As a list, the form a `VecDeque` had.
impl<T: Serialize> Serialize for Recent<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de, T: Deserialize<'de> + Clone> Deserialize<'de> for Recent<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut recent = Recent::default();
        for entry in Vec::<T>::deserialize(deserializer)? {
            recent.push(entry);
        }
        Ok(recent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(recent: &Recent<u32>) -> Vec<u32> {
        recent.iter().copied().collect()
    }

    #[test]
    fn entries_come_out_oldest_first_across_blocks_and_expire_from_the_front() {
        let mut recent = Recent::default();
        for n in 0..1000 {
            recent.push(n);
        }
        assert_eq!(entries(&recent), (0..1000).collect::<Vec<_>>());
        for oldest in [0, 5, 127, 128, 129, 300, 999, 1000, 1000] {
            recent.drop_while(|&n| n < oldest);
            assert_eq!(entries(&recent), (oldest..1000).collect::<Vec<_>>());
            assert_eq!(recent.len(), 1000 - oldest as usize);
        }
        assert_eq!(recent.len(), 0);
        recent.push(7);
        assert_eq!(entries(&recent), [7]);
    }

    #[test]
    fn a_copy_changes_apart_from_its_original() {
        let mut original = Recent::default();
        for n in 0..300 {
            original.push(n);
        }
        let mut copy = original.clone();
        copy.drop_while(|&n| n < 200);
        for n in 300..500 {
            copy.push(n);
        }
        assert_eq!(entries(&original), (0..300).collect::<Vec<_>>());
        assert_eq!(entries(&copy), (200..500).collect::<Vec<_>>());
        assert_ne!(original, copy);
    }

    #[test]
    fn it_is_written_and_read_as_a_list() {
        let mut recent = Recent::default();
        for n in 0..200 {
            recent.push(n);
        }
        recent.drop_while(|&n| n < 3);
        let json = serde_json::to_string(&recent).unwrap();
        let list: Vec<u32> = serde_json::from_str(&json).unwrap();
        assert_eq!(list, (3..200).collect::<Vec<_>>());
        let back: Recent<u32> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, recent);
    }
}
