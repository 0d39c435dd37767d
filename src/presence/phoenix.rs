//! Presence as Phoenix clients see it: the `presence_state` and `presence_diff` payloads the
//! official JS `Presence` helper reads.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

use super::Present;

/// What one client was last told about a topic's presence: turns the topic's entries into the
/// Phoenix Presence payloads, `presence_state` (everything) and `presence_diff` (the joins and
/// leaves since), so the official JS `Presence` helper stays in step.
#[derive(Debug, Default)]
pub struct Shown {
    /// By phx_ref: the key and the meta sent.
    refs: HashMap<String, (String, Value)>,
}

impl Shown {
    /// The `presence_state` payload: `{key: {"metas": [{"phx_ref": ..., ...meta}]}}`.
    pub fn state(&mut self, entries: &[Present]) -> Value {
        self.refs = shown(entries);
        Value::Object(group(self.refs.values()))
    }

    /// The `presence_diff` payload, `{"joins": {...}, "leaves": {...}}`, from what was last
    /// shown to `entries`; `None` when nothing changed.
    pub fn diff(&mut self, entries: &[Present]) -> Option<Value> {
        let now = shown(entries);
        let joins: Vec<&(String, Value)> = now
            .iter()
            .filter(|(r, _)| !self.refs.contains_key(*r))
            .map(|(_, v)| v)
            .collect();
        let leaves: Vec<&(String, Value)> = self
            .refs
            .iter()
            .filter(|(r, _)| !now.contains_key(*r))
            .map(|(_, v)| v)
            .collect();
        if joins.is_empty() && leaves.is_empty() {
            return None;
        }
        let diff = json!({
            "joins": group(joins.into_iter()),
            "leaves": group(leaves.into_iter()),
        });
        self.refs = now;
        Some(diff)
    }
}

fn shown(entries: &[Present]) -> HashMap<String, (String, Value)> {
    entries
        .iter()
        .map(|p| (p.phx_ref.clone(), (p.key.clone(), p.phoenix_meta())))
        .collect()
}

/// `{key: {"metas": [...]}}`, metas in phx_ref order.
fn group<'a>(items: impl Iterator<Item = &'a (String, Value)>) -> Map<String, Value> {
    let mut by_key: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for (key, meta) in items {
        by_key.entry(key).or_default().push(meta);
    }
    by_key
        .into_iter()
        .map(|(key, mut metas)| {
            metas.sort_by(|a, b| a["phx_ref"].as_str().cmp(&b["phx_ref"].as_str()));
            (key.to_owned(), json!({ "metas": metas }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn present(key: &str, phx_ref: &str) -> Present {
        Present {
            topic: "t".into(),
            key: key.into(),
            phx_ref: phx_ref.into(),
            meta: json!({"name": key}).as_object().cloned().unwrap(),
        }
    }

    #[test]
    fn state_and_diffs_have_the_phoenix_shapes() {
        let mut shown = Shown::default();
        let ada = present("ada", "n-1");
        let bob = present("bob", "n-2");
        assert_eq!(
            shown.state(std::slice::from_ref(&ada)),
            json!({"ada": {"metas": [{"name": "ada", "phx_ref": "n-1"}]}})
        );
        assert_eq!(shown.diff(std::slice::from_ref(&ada)), None);
        assert_eq!(
            shown.diff(&[ada.clone(), bob.clone()]),
            Some(json!({
                "joins": {"bob": {"metas": [{"name": "bob", "phx_ref": "n-2"}]}},
                "leaves": {}
            }))
        );
        assert_eq!(
            shown.diff(std::slice::from_ref(&bob)),
            Some(json!({
                "joins": {},
                "leaves": {"ada": {"metas": [{"name": "ada", "phx_ref": "n-1"}]}}
            }))
        );
    }
}
