//! Paged reads of the event stores (issue 13, finding 3): an aggregate's history a page at a
//! time, its last sequence, one event by position, and the newest events of one type, on both
//! stores.

use cinder::store::NewEvent;

use crate::projections::event;
use crate::support::{on_both_stores, Backend, TestStore};

fn of_type(aggregate_type: &str, aggregate_id: &str, sequence: i64) -> NewEvent {
    NewEvent {
        aggregate_type: aggregate_type.into(),
        ..event(aggregate_id, sequence)
    }
}

fn sequences(events: &[cinder_domain::StoredEvent]) -> Vec<i64> {
    events.iter().map(|e| e.sequence).collect()
}

on_both_stores!(histories_are_read_a_page_at_a_time);
async fn histories_are_read_a_page_at_a_time(backend: Backend) {
    let store = TestStore::new(backend).await;
    let log = &store.log;
    // "a" and "ab": an id that starts with another's must not show in its pages.
    let mut positions = Vec::new();
    for sequence in 1..=25 {
        positions.push(log.append(&[event("a", sequence)]).await.unwrap()[0].position);
        if sequence <= 3 {
            log.append(&[event("ab", sequence)]).await.unwrap();
        }
    }
    let page = |after, limit| log.stream_page("Test", "a", after, limit);
    assert_eq!(
        sequences(&page(0, 10).await.unwrap()),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(
        sequences(&page(10, 10).await.unwrap()),
        (11..=20).collect::<Vec<_>>()
    );
    assert_eq!(
        sequences(&page(20, 10).await.unwrap()),
        (21..=25).collect::<Vec<_>>()
    );
    assert!(page(25, 10).await.unwrap().is_empty());
    let first = &page(0, 1).await.unwrap()[0];
    assert_eq!(
        (first.aggregate_id.as_str(), first.position),
        ("a", positions[0])
    );
    assert_eq!(
        sequences(&log.stream_page("Test", "ab", 0, 100).await.unwrap()),
        vec![1, 2, 3]
    );
    assert!(log
        .stream_page("Other", "a", 0, 10)
        .await
        .unwrap()
        .is_empty());

    assert_eq!(log.last_sequence("Test", "a").await.unwrap(), Some(25));
    assert_eq!(log.last_sequence("Test", "ab").await.unwrap(), Some(3));
    assert_eq!(log.last_sequence("Test", "nobody").await.unwrap(), None);

    let fifth = log.event_at(positions[4]).await.unwrap().unwrap();
    assert_eq!((fifth.aggregate_id.as_str(), fifth.sequence), ("a", 5));
    assert!(log.event_at(99_999).await.unwrap().is_none());
    assert!(log.event_at(0).await.unwrap().is_none());
}

on_both_stores!(the_newest_events_of_one_type_are_found_without_the_others);
async fn the_newest_events_of_one_type_are_found_without_the_others(backend: Backend) {
    let store = TestStore::new(backend).await;
    let log = &store.log;
    for sequence in 1..=30 {
        log.append(&[of_type("Room", "r", sequence)]).await.unwrap();
        if sequence % 10 == 0 {
            log.append(&[of_type("Rare", "x", sequence / 10)])
                .await
                .unwrap();
        }
    }
    let rare = log.latest(Some("Rare"), None, 10).await.unwrap();
    assert_eq!(
        sequences(&rare),
        vec![3, 2, 1],
        "newest first, only that type"
    );
    assert!(rare.iter().all(|e| e.aggregate_type == "Rare"));
    assert!(log.latest(Some("Nope"), None, 10).await.unwrap().is_empty());
    assert!(log.latest(Some("Roo"), None, 10).await.unwrap().is_empty());
    let before = rare[1].position;
    let older = log.latest(Some("Rare"), Some(before), 10).await.unwrap();
    assert_eq!(sequences(&older), vec![1]);
    let rooms = log.latest(Some("Room"), None, 3).await.unwrap();
    assert_eq!(sequences(&rooms), vec![30, 29, 28]);
    let all = log.latest(None, None, 2).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].aggregate_type, "Rare");
    // Events appended after a filtered read are found by the next one.
    log.append(&[of_type("Rare", "y", 1)]).await.unwrap();
    let rare = log.latest(Some("Rare"), None, 1).await.unwrap();
    assert_eq!(rare[0].aggregate_id, "y");
}
