//! The page around every view.

use maud::{html, Markup, DOCTYPE};

use super::session::Session;
use super::AppState;

/// A whole page. `live` is the view's path and join token, for pages that go live.
pub fn page(
    title: &str,
    _app: &AppState,
    _session: &Session,
    live: Option<(&str, &str)>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Cinder" }
                link rel="stylesheet" href="/assets/cinder.css";
                // Every page: it shows times in the visitor's zone; live pages also join.
                script src="/assets/cinder.js" defer {}
            }
            body {
                header.site {
                    a.brand href="/" { "Cinder" }
                    nav aria-label="Apps" {
                        a href="/chat" { "Chat" }
                        a href="/bookmarks" { "Bookmarks" }
                        a href="/drops" { "Drops" }
                        a href="/todos" { "Todos" }
                        a href="/events" { "Events" }
                    }
                }
                @match live {
                    Some((path, token)) => {
                        main #cinder-root data-cinder-topic={ "lv:" (path) } data-cinder-token=(token) {
                            (body)
                        }
                    }
                    None => { main { (body) } }
                }
            }
        }
    }
}
