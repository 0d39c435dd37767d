/// A 64-bit fingerprint of `text` (two texts share one by chance once in 2^64).
///
/// Aggregates keep fingerprints instead of strings where their state grows with use (a room's
/// recent senders, a poll's voters): the bus copies an aggregate's state for every command (the
/// copy becomes the aggregate only if the command commits), and a copy of fixed-size values
/// does not allocate per entry. State is rebuilt from events in each process, so the hash only
/// has to agree with itself.
pub fn fingerprint(text: &str) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}
