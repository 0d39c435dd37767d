//! Patches: what the server sends a live page to change it, by element id.

use maud::Markup;
use serde::Serialize;

/// One DOM operation. `html` is always rendered by our templates, which escape user text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Patch {
    /// Replace the element with id `id` by `html`.
    Replace { id: String, html: String },
    /// Add `html` as the last children of `#id`, keeping at most `limit` children.
    Append {
        id: String,
        html: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
    },
    /// Add `html` as the first children of `#id`, keeping at most `limit` children.
    Prepend {
        id: String,
        html: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
    },
    /// Remove `#id`.
    Remove { id: String },
}

impl Patch {
    pub fn replace(id: impl Into<String>, html: Markup) -> Self {
        Patch::Replace {
            id: id.into(),
            html: html.into_string(),
        }
    }

    pub fn append(id: impl Into<String>, html: Markup, limit: Option<usize>) -> Self {
        Patch::Append {
            id: id.into(),
            html: html.into_string(),
            limit,
        }
    }

    pub fn prepend(id: impl Into<String>, html: Markup, limit: Option<usize>) -> Self {
        Patch::Prepend {
            id: id.into(),
            html: html.into_string(),
            limit,
        }
    }

    pub fn remove(id: impl Into<String>) -> Self {
        Patch::Remove { id: id.into() }
    }
}
