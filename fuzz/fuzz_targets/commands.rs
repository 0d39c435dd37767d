//! Every command's JSON decoding, and the command handled by a new aggregate (pure: no I/O).
//!
//! The first byte picks the type, the rest is JSON: one command or a list of them, handled in
//! order by one aggregate, so commands meet states that earlier commands made.
//!
//! | byte | JSON                                            | aggregate  |
//! |------|-------------------------------------------------|------------|
//! | `c`  | `RoomCommand`                                   | `Room`     |
//! | `b`  | `BookmarkCommand`                               | `Bookmark` |
//! | `t`  | `TodoCommand`                                   | `TodoList` |
//! | `p`  | `ProductCommand`                                | `Product`  |
//! | `k`  | `[cart_id, CartCommand]`                        | `Cart`     |
//! | `u`  | `[purchase_id, PurchaseCommand]`                | `Purchase` |
//! | `n`  | `CreateProduct` (the body of `POST /api/drops/products`) | `Product`  |
//! | `g`  | `TagsInput` (a bookmark's `tags`)               | `Bookmark` |
//!
//! Any other byte picks one of these by its value. Checked besides "no panic": a refused
//! command writes no event, every event and the aggregate's state read back as they were
//! written (they are stored as JSON), and a refusal can be shown to the user.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use chrono::{TimeZone, Utc};
use cinder_domain::bookmarks::{
    AddBookmark, Bookmark, BookmarkCommand, BookmarkServices, TagsInput,
};
use cinder_domain::chat::{Room, RoomServices};
use cinder_domain::drops::{
    Cart, CartServices, CreateProduct, DropsServices, Product, ProductCommand, Purchase,
};
use cinder_domain::todos::TodoList;
use cinder_domain::{Clock, Rejection};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Most commands one input runs, to keep each run quick.
const MAX_COMMANDS: usize = 32;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, json)) = data.split_first() else {
        return;
    };
    const KINDS: &[u8; 8] = b"cbtpkung";
    let kind = if KINDS.contains(&kind) {
        kind
    } else {
        KINDS[usize::from(kind) % KINDS.len()]
    };
    let clock = Clock::fixed(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap());
    let drops = DropsServices {
        clock: clock.clone(),
    };
    let bookmarks = BookmarkServices {
        clock: clock.clone(),
    };
    match kind {
        b'c' => run::<Room>(decode(json), &RoomServices { clock }),
        b'b' => run::<Bookmark>(decode(json), &bookmarks),
        b't' => run::<TodoList>(decode(json), &()),
        b'p' => run::<Product>(decode(json), &drops),
        b'k' => run::<Cart>(decode(json), &CartServices),
        b'u' => run::<Purchase>(decode(json), &drops),
        b'n' => {
            let create = serde_json::from_slice::<CreateProduct>(json).ok();
            let commands = create.into_iter().flat_map(|create| {
                let items: Vec<_> = create
                    .items
                    .iter()
                    .map(|i| format!("{}-{}", create.sku, i.size))
                    .collect();
                let sells = items.into_iter().map(|item_id| ProductCommand::SellItem {
                    item_id,
                    purchase_id: Some("p".into()),
                });
                [
                    ProductCommand::CreateProduct(create),
                    ProductCommand::ReleaseProduct,
                ]
                .into_iter()
                .chain(sells)
                .collect::<Vec<_>>()
            });
            run::<Product>(commands.collect(), &drops)
        }
        _ => {
            let tags = serde_json::from_slice::<TagsInput>(json).ok();
            let commands = tags.map(|tags| {
                BookmarkCommand::AddBookmark(AddBookmark {
                    id: "b1".into(),
                    owner: "o".into(),
                    title: "A title".into(),
                    url: "https://example.com/".into(),
                    description: String::new(),
                    public: None,
                    tags,
                })
            });
            run::<Bookmark>(commands.into_iter().collect(), &bookmarks)
        }
    }
});

/// One command, or a list of them; nothing if the JSON is neither.
fn decode<C: DeserializeOwned>(json: &[u8]) -> Vec<C> {
    match serde_json::from_slice::<Vec<C>>(json) {
        Ok(commands) => commands,
        Err(_) => serde_json::from_slice::<C>(json).into_iter().collect(),
    }
}

fn run<A>(commands: Vec<A::Command>, services: &A::Services)
where
    A: Aggregate + PartialEq + std::fmt::Debug,
    A::Error: Rejection,
{
    let mut aggregate = A::default();
    for command in commands.into_iter().take(MAX_COMMANDS) {
        let sink = EventSink::default();
        let result = block_on(aggregate.handle(command, services, &sink));
        let events = block_on(sink.collect());
        match result {
            Ok(()) => {
                for event in &events {
                    round_trip(event);
                }
            }
            Err(error) => {
                assert!(events.is_empty(), "refused, yet wrote {events:?}");
                let errors = error.errors();
                assert!(!errors.is_empty());
                assert!(errors.iter().all(|(_, message)| !message.is_empty()));
                let _ = error.field();
            }
        }
    }
    round_trip(&aggregate);
}

/// `value` as JSON and back is `value`.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) {
    let json = serde_json::to_string(value).expect("serializes");
    let back: T = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(&back, value, "{json}");
}

/// Runs a future that never waits on anything outside (aggregates do no I/O).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}
