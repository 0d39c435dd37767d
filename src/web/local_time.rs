//! Times as pages show them: a `<time>` whose `datetime` is the exact instant (UTC), and whose
//! text, until cinder.js rewrites it in the browser's own zone and language, is the UTC time
//! saying so ("14:41 UTC"). A server cannot know its visitors' zones; the browser does.

use chrono::{DateTime, SecondsFormat, Utc};
use maud::{html, Markup};

/// How much of a time a place shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// The time of day (and the date, if it is not today): a chat message, a comment.
    Time,
    /// Date and time to the minute: a room's last activity, a bookmark.
    Minute,
    /// Date and time to the second: the event log.
    Second,
}

impl Shown {
    /// The name cinder.js knows the format by (`data-cinder-time`).
    fn name(self) -> &'static str {
        match self {
            Shown::Time => "time",
            Shown::Minute => "minute",
            Shown::Second => "second",
        }
    }

    fn utc_format(self) -> &'static str {
        match self {
            Shown::Time => "%H:%M UTC",
            Shown::Minute => "%Y-%m-%d %H:%M UTC",
            Shown::Second => "%Y-%m-%d %H:%M:%S UTC",
        }
    }
}

/// `at` as a `<time>` showing `shown`.
pub fn time(at: &DateTime<Utc>, shown: Shown) -> Markup {
    html! {
        time datetime=(at.to_rfc3339_opts(SecondsFormat::Millis, true)) data-cinder-time=(shown.name()) {
            (at.format(shown.utc_format()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_carries_its_instant_and_says_utc_until_the_browser_rewrites_it() {
        let at = DateTime::parse_from_rfc3339("2026-03-08T08:07:09.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            time(&at, Shown::Time).into_string(),
            r#"<time datetime="2026-03-08T08:07:09.123Z" data-cinder-time="time">08:07 UTC</time>"#
        );
        assert!(time(&at, Shown::Second)
            .into_string()
            .contains(">2026-03-08 08:07:09 UTC<"));
    }
}
