use std::sync::Arc;

use chrono::{DateTime, Utc};

/// Where aggregates learn the time. The system clock in production, a fixed one in tests, so
/// that rules such as "at most 10 messages a minute" are decided without touching the outside.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    /// The machine's wall clock.
    pub fn system() -> Self {
        Self(Arc::new(Utc::now))
    }

    /// A clock that always answers `at`.
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Self(Arc::new(move || at))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}
