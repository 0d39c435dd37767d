//! `cinder serve --simulate-bookmarks[=interval]`: a random public bookmark every interval.

use std::sync::Arc;
use std::time::Duration;

use cinder_domain::bookmarks::{self, AddBookmark, BookmarkCommand, TagsInput};
use rand::seq::IndexedRandom;
use rand::Rng;

use crate::bus::CommandBus;

const ADJECTIVES: &[&str] = &[
    "Amazing",
    "Brilliant",
    "Clever",
    "Dynamic",
    "Elegant",
    "Fantastic",
    "Great",
    "Helpful",
    "Innovative",
    "Joyful",
];
const NOUNS: &[&str] = &[
    "Tutorial",
    "Guide",
    "Project",
    "Framework",
    "Library",
    "Tool",
    "Resource",
    "Platform",
    "Service",
    "Application",
];
const TOPICS: &[&str] = &[
    "Elixir",
    "Phoenix",
    "JavaScript",
    "React",
    "Vue",
    "Angular",
    "Ruby",
    "Python",
    "Go",
    "Rust",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "tutorial-site.dev",
    "learn-tech.io",
    "codebase.edu",
    "dev-resources.net",
];

/// The owner of simulated bookmarks.
pub const OWNER: &str = "simulator";

/// A random bookmark in the spec's vocabulary: "<Adjective> <Topic> <Noun>".
pub fn random_bookmark(rng: &mut impl Rng) -> AddBookmark {
    let pick = |rng: &mut _, words: &[&'static str]| *words.choose(rng).unwrap_or(&words[0]);
    let adjective = pick(rng, ADJECTIVES);
    let topic = pick(rng, TOPICS);
    let noun = pick(rng, NOUNS);
    let domain = pick(rng, DOMAINS);
    let title = format!("{adjective} {topic} {noun}");
    let slug = title.to_lowercase().replace(' ', "-");
    AddBookmark {
        id: bookmarks::new_id(rng.random()),
        owner: OWNER.into(),
        url: format!("https://{domain}/{slug}"),
        description: format!(
            "{} {} {} for {topic} developers",
            article(adjective),
            adjective.to_lowercase(),
            noun.to_lowercase()
        ),
        title,
        public: Some(true),
        tags: TagsInput::List(vec![topic.to_lowercase(), noun.to_lowercase()]),
    }
}

/// "An" before a vowel sound ("An amazing", "An elegant"), "A" otherwise: every adjective of
/// the vocabulary starts with a letter that sounds as written.
fn article(word: &str) -> &'static str {
    match word.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "An",
        _ => "A",
    }
}

/// Adds a random public bookmark through `bus` every `every`, until the task is stopped.
pub fn spawn(bus: Arc<CommandBus>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tracing::info!(?every, "bookmark simulator started");
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            let add = random_bookmark(&mut rand::rng());
            let id = add.id.clone();
            if let Err(error) = bus
                .execute::<cinder_domain::bookmarks::Bookmark>(
                    &id,
                    BookmarkCommand::AddBookmark(add),
                )
                .await
            {
                tracing::warn!(%error, "simulated bookmark refused");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_bookmarks_follow_the_vocabulary_and_the_rules() {
        let mut rng = rand::rng();
        for _ in 0..200 {
            let add = random_bookmark(&mut rng);
            let words: Vec<&str> = add.title.split(' ').collect();
            assert!(
                ADJECTIVES.contains(&words[0])
                    && TOPICS.contains(&words[1])
                    && NOUNS.contains(&words[2])
            );
            assert_eq!(
                add.description,
                format!(
                    "{} {} {} for {} developers",
                    if "AEIOU".contains(&words[0][..1]) {
                        "An"
                    } else {
                        "A"
                    },
                    words[0].to_lowercase(),
                    words[2].to_lowercase(),
                    words[1]
                )
            );
            let slug = add.title.to_lowercase().replace(' ', "-");
            assert!(DOMAINS
                .iter()
                .any(|d| add.url == format!("https://{d}/{slug}")));
            assert_eq!(
                add.tags,
                TagsInput::List(vec![words[1].to_lowercase(), words[2].to_lowercase()])
            );
            assert!(cinder_domain::bookmarks::check_url(&add.url).is_ok());
        }
    }

    #[test]
    fn descriptions_use_an_before_a_vowel() {
        assert_eq!(article("Amazing"), "An");
        assert_eq!(article("Elegant"), "An");
        assert_eq!(article("Innovative"), "An");
        assert_eq!(article("Brilliant"), "A");
        assert_eq!(article("Joyful"), "A");
    }
}
