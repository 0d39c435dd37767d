//! Numbered values kept [`PER_CHUNK`] to a sled key: a room's messages 0–15 under one key,
//! 16–31 under the next, and so on.
//!
//! Why not one key each: a rebuild from the log is bound by sled's inserts (each clones the
//! leaf it lands in, splits it every few keys and writes the leaf's parent again), and a million
//! chat messages cost it four CPU-seconds, more than reading and decoding them. Sixteen to a key
//! means sixteen times fewer inserts. The live tail writes through the same function, so a
//! rebuilt tree is the same, byte for byte, as one folded event by event; it pays for it by
//! copying the chunk (a couple of kilobytes) with each new value.
//!
//! A chunk is its entries in number order, each `n (u64, big-endian) ++ length (u32,
//! big-endian) ++ value`; its key is [`numbered_key`]`(name, n / PER_CHUNK)`.

use std::ops::Range;

use crate::codec::numbered_key;
use crate::ProjectionError;

/// Values under one key.
pub(crate) const PER_CHUNK: u64 = 16;

/// The bytes before an entry's value: its number and the value's length.
const HEADER: usize = 8 + 4;

/// The key of the chunk that holds `name`'s value number `n`.
pub(crate) fn key(name: &str, n: u64) -> Vec<u8> {
    numbered_key(name, n / PER_CHUNK)
}

/// The keys of `name`'s chunks that hold numbers below `below`, in order.
pub(crate) fn keys_below(name: &str, below: u64) -> Range<Vec<u8>> {
    let start = numbered_key(name, 0);
    let end = match below.checked_sub(1) {
        Some(last) => numbered_key(name, last / PER_CHUNK + 1),
        None => start.clone(),
    };
    start..end
}

/// `chunk` (`None`: a new one) with `value` as number `n`, replacing the value so numbered if
/// there is one. Appending, the usual case, copies the chunk once and decodes nothing.
pub(crate) fn with(chunk: Option<&[u8]>, n: u64, value: &[u8]) -> Result<Vec<u8>, ProjectionError> {
    let chunk = chunk.unwrap_or_default();
    let mut last = None;
    for entry in entries(chunk) {
        last = Some(entry?.0);
    }
    if last.is_none_or(|last| last < n) {
        let mut out = Vec::with_capacity(chunk.len() + HEADER + value.len());
        out.extend_from_slice(chunk);
        push(&mut out, n, value)?;
        return Ok(out);
    }
    let mut all = entries(chunk).collect::<Result<Vec<_>, _>>()?;
    match all.binary_search_by_key(&n, |&(number, _)| number) {
        Ok(at) => all[at].1 = value,
        Err(at) => all.insert(at, (n, value)),
    }
    let mut out = Vec::with_capacity(chunk.len() + HEADER + value.len());
    for (number, value) in all {
        push(&mut out, number, value)?;
    }
    Ok(out)
}

fn push(out: &mut Vec<u8>, n: u64, value: &[u8]) -> Result<(), ProjectionError> {
    let len = u32::try_from(value.len())
        .map_err(|_| ProjectionError::Corrupt(format!("value {n} is over 4 GiB")))?;
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

/// The entries of `chunk` (number and value), in number order.
pub(crate) fn entries(chunk: &[u8]) -> impl Iterator<Item = Result<(u64, &[u8]), ProjectionError>> {
    let mut rest = chunk;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let entry = split_entry(rest);
        match entry {
            Ok((n, value, after)) => {
                rest = after;
                Some(Ok((n, value)))
            }
            Err(error) => {
                rest = &[];
                Some(Err(error))
            }
        }
    })
}

fn split_entry(bytes: &[u8]) -> Result<(u64, &[u8], &[u8]), ProjectionError> {
    let truncated = || ProjectionError::Corrupt("a chunk of values is cut short".into());
    let (n, rest) = bytes.split_first_chunk::<8>().ok_or_else(truncated)?;
    let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(truncated)?;
    let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| truncated())?;
    if rest.len() < len {
        return Err(truncated());
    }
    let (value, rest) = rest.split_at(len);
    Ok((u64::from_be_bytes(*n), value, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(chunk: &[u8]) -> Vec<(u64, Vec<u8>)> {
        entries(chunk)
            .map(|entry| entry.map(|(n, value)| (n, value.to_vec())).unwrap())
            .collect()
    }

    #[test]
    fn values_are_kept_in_number_order_whatever_order_they_come_in() {
        let chunk = with(None, 3, b"three").unwrap();
        let chunk = with(Some(&chunk), 5, b"five").unwrap();
        let chunk = with(Some(&chunk), 1, b"one").unwrap();
        let chunk = with(Some(&chunk), 4, b"").unwrap();
        assert_eq!(
            numbers(&chunk),
            [
                (1, b"one".to_vec()),
                (3, b"three".to_vec()),
                (4, vec![]),
                (5, b"five".to_vec())
            ]
        );
    }

    #[test]
    fn a_number_written_again_replaces_its_value() {
        let chunk = with(None, 1, b"first").unwrap();
        let chunk = with(Some(&chunk), 2, b"second").unwrap();
        let chunk = with(Some(&chunk), 1, b"again").unwrap();
        assert_eq!(
            numbers(&chunk),
            [(1, b"again".to_vec()), (2, b"second".to_vec())]
        );
    }

    #[test]
    fn a_chunk_cut_short_is_an_error_not_a_panic() {
        let chunk = with(None, 1, b"value").unwrap();
        for cut in 1..chunk.len() {
            let read: Result<Vec<_>, _> = entries(&chunk[..cut]).collect();
            assert!(read.is_err(), "cut at {cut} read as whole");
            assert!(with(Some(&chunk[..cut]), 2, b"x").is_err());
        }
    }

    #[test]
    fn keys_below_cover_exactly_the_chunks_of_smaller_numbers() {
        let name = "room";
        let covers = |below: u64, n: u64| keys_below(name, below).contains(&key(name, n));
        assert!(!covers(0, 0));
        assert!(covers(1, 0));
        assert!(covers(16, 15));
        assert!(!covers(16, 16));
        assert!(covers(17, 16));
        assert!(covers(u64::MAX, u64::MAX - 1));
        assert!(!keys_below("roo", u64::MAX).contains(&key(name, 0)));
    }
}
