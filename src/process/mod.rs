//! Process managers: work that spans several aggregates, driven by commands and recorded in
//! events of its own, so that it can be finished after a crash.

pub mod checkout;
