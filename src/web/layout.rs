//! The page around every view.

use maud::{html, Markup, DOCTYPE};

use super::session::Session;
use super::AppState;

/// What a page that goes live carries for `cinder.js`.
pub struct Live<'a> {
    /// The view's path: the page joins `lv:<path>`.
    pub path: &'a str,
    /// The join token.
    pub token: &'a str,
    /// The log position the page's content reflects, if known (see `live::resume`).
    pub at: Option<&'a str>,
}

/// A whole page. `live` is what a page that goes live needs to join.
pub fn page(
    title: &str,
    app: &AppState,
    _session: &Session,
    live: Option<Live>,
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
                link rel="stylesheet" href="/assets/apps.css";
                // Every page: it shows times in the visitor's zone; live pages also join.
                script src="/assets/cinder.js" defer {}
            }
            body {
                header.site {
                    a.brand href="/" { "Cinder" }
                    nav aria-label="Apps" {
                        @for nav in app.apps.nav() { a href=(nav.href) { (nav.label) } }
                    }
                }
                @match live {
                    Some(live) => {
                        main #cinder-root data-cinder-topic={ "lv:" (live.path) }
                            data-cinder-token=(live.token) data-cinder-at=[live.at] {
                            (body)
                        }
                    }
                    None => { main { (body) } }
                }
            }
        }
    }
}
