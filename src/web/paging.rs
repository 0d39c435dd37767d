//! Pages of lists within a count and a number of bytes (`CINDER_MAX_REPLY_BYTES`).
//!
//! Counting items alone does not bound a reply: a hundred chat messages of 2,000 characters
//! that HTML escapes to six bytes each are 1.2 MB. So a page takes items (newest first, as the
//! read models yield them) while they fit both its count and its bytes, measuring each as it
//! will be sent: its HTML as a JSON string (what a live view's patch carries, never less than
//! the page), or its JSON. A page always takes at least one item, so paging always moves on;
//! the domain's limits keep any one item far below the smallest budget.

use maud::Markup;
use serde::Serialize;

use super::AppState;

/// What a page leaves for everything around its list (layout, forms, other regions, the
/// reply's envelope).
const AROUND: usize = 48 * 1024;

/// The bytes one list on a page (or in a reply) may take.
pub fn list_budget(app: &AppState) -> usize {
    app.max_reply_bytes.saturating_sub(AROUND).max(1)
}

/// One page of a list.
pub struct Page<T> {
    /// In the order they were read.
    pub items: Vec<T>,
    /// Whether more items followed the last one taken.
    pub more: bool,
}

/// Takes `items` while at most `count` are taken and their `size`s add up to at most `bytes`
/// (the first is taken whatever its size).
pub fn take<T, E>(
    items: impl IntoIterator<Item = Result<T, E>>,
    count: usize,
    bytes: usize,
    mut size: impl FnMut(&T) -> usize,
) -> Result<Page<T>, E> {
    let mut taken = Vec::new();
    let mut used = 0;
    for item in items {
        let item = item?;
        let item_size = size(&item);
        if taken.len() >= count || (!taken.is_empty() && used + item_size > bytes) {
            return Ok(Page {
                items: taken,
                more: true,
            });
        }
        used += item_size;
        taken.push(item);
    }
    Ok(Page {
        items: taken,
        more: false,
    })
}

/// Renders `items` with `render` while they fit (see [`take`]), sized as the JSON strings a
/// patch carries them in. Returns each item with its markup.
pub fn rendered<T, E>(
    items: impl IntoIterator<Item = Result<T, E>>,
    count: usize,
    bytes: usize,
    render: impl Fn(&T) -> Markup,
) -> Result<Page<(T, Markup)>, E> {
    let items = items.into_iter().map(|item| {
        item.map(|item| {
            let markup = render(&item);
            (item, markup)
        })
    });
    take(items, count, bytes, |(_, markup)| {
        json_size(markup.0.as_str())
    })
}

/// Takes `items` while they fit (see [`take`]), sized as their JSON.
pub fn serialized<T: Serialize, E>(
    items: impl IntoIterator<Item = Result<T, E>>,
    count: usize,
    bytes: usize,
) -> Result<Page<T>, E> {
    take(items, count, bytes, json_size)
}

/// The length of `value` as JSON, counted without building the text.
pub fn json_size<T: Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Serializing plain data into a counter cannot fail; if it did, count it as huge.
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX / 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(n: usize) -> impl Iterator<Item = Result<usize, ()>> {
        (0..n).map(Ok)
    }

    #[test]
    fn a_page_stops_at_its_count_or_its_bytes_whichever_comes_first() {
        let page = take(numbers(10), 3, 1000, |_| 10).unwrap();
        assert_eq!((page.items, page.more), (vec![0, 1, 2], true));
        let page = take(numbers(10), 100, 25, |_| 10).unwrap();
        assert_eq!((page.items, page.more), (vec![0, 1], true));
        let page = take(numbers(2), 100, 1000, |_| 10).unwrap();
        assert_eq!((page.items, page.more), (vec![0, 1], false));
        // One item over the budget is still taken, so paging moves on.
        let page = take(numbers(3), 100, 5, |_| 10).unwrap();
        assert_eq!((page.items, page.more), (vec![0], true));
    }

    #[test]
    fn sizes_are_those_of_the_json_sent() {
        assert_eq!(json_size("a\"b"), 6);
        assert_eq!(json_size("\u{1}"), 8);
        assert_eq!(json_size(&serde_json::json!({"a": 1})), 7);
    }
}
