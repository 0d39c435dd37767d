//! The live view runtime.
//!
//! A live view renders a whole page for the first GET, then, joined over the socket as
//! `lv:<path>`, answers page events and turns read model changes into [`Patch`]es. It keeps
//! only what it needs to compute the next patch (a room name, the oldest message shown), never
//! a copy of the page. A page that reconnects heals: its join is sent what it missed since the
//! log position it reflects, or every region whole (see [`resume`]).

mod event;
mod patch;
pub mod resume;
mod shown_run;

use std::time::Duration;

use async_trait::async_trait;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use cinder_read_models::{Change, Cursor};
use maud::Markup;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use event::PageEvent;
pub use patch::Patch;
pub use shown_run::{Run, ShownRun};

use super::layout;
use super::session::{Session, TokenError};
use super::socket::{reason, Channel, ChannelFactory, Joined, Push, Pusher, SocketInfo, Stalled};
use super::AppState;
use crate::pubsub::RenderKey;

/// How long a page's live view token stays valid.
pub const TOKEN_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

#[async_trait]
pub trait LiveView: Send + Sync {
    /// The page's `<title>`.
    fn title(&self) -> String;

    /// The whole page body, for the first GET.
    async fn render(&self) -> Result<Markup, ViewError>;

    /// Each live region, whole, as `replace` patches: sent on a join that cannot be sent only
    /// what the page missed (see [`resume`]).
    async fn regions(&self) -> Result<Vec<Patch>, ViewError>;

    /// Whether a join may bring the page up to date by replaying the changes it missed through
    /// [`LiveView::handle_change`] (or the shared render), and if so, the regions it must send
    /// whole besides: those that show what the log does not record (who is here now). Asked
    /// after the replay, so these may depend on what it changed. `None`, the default, when the
    /// view shows more than its changes say: every join then sends every region.
    async fn unlogged_regions(&self) -> Option<Result<Vec<Patch>, ViewError>> {
        None
    }

    /// The pubsub topics whose changes this view shows.
    fn topics(&self) -> Vec<String>;

    /// An event from the page (`data-cinder-submit` / `data-cinder-click`). An `Err` is the
    /// error reply, e.g. `{"errors": {"content": ["..."]}}`.
    async fn handle_event(&mut self, event: &str, value: Value) -> Result<Outcome, Value>;

    /// What a form's fields break as it is filled in (`data-cinder-validate`): the same domain
    /// rules its `event` runs on submit, as `{field: [messages]}` (empty when all is well).
    /// Nothing is done. Views without such forms answer that nothing is wrong.
    fn validate(&self, _event: &str, _value: &Value) -> Value {
        json!({})
    }

    /// What to tell the visitor once `event` (with its `value`) succeeded, if anything:
    /// "Bookmark added", "Released". Shown for a moment; it also clears an earlier error.
    fn flash(&self, _event: &str, _value: &Value) -> Option<String> {
        None
    }

    /// A read model change on one of [`LiveView::topics`].
    fn handle_change(&mut self, change: &Change) -> Vec<Patch>;

    /// For a change that views of this kind show alike (a new message in a room, for everyone
    /// on the room's page): the key its patches are rendered and encoded under, once for all of
    /// them (see [`crate::pubsub::RenderKey`]: the view's kind and what else its patches depend
    /// on), after noting what this view keeps of it. `None`, the default, has
    /// [`LiveView::handle_change`] make this view's own patches.
    fn shared_key(&mut self, _change: &Change) -> Option<RenderKey> {
        None
    }

    /// The patches for `change` under the key [`LiveView::shared_key`] gave: the same for every
    /// view that gives that key, so they depend on nothing else of this one (no session).
    fn render_shared(&self, _change: &Change) -> Vec<Patch> {
        Vec::new()
    }

    /// Called once the view is joined over a socket (not for a plain page render): the place to
    /// start counting the visitor as present.
    fn joined(&mut self) {}

    /// Whether only the admin may join this view: then only a page rendered for the admin
    /// (with [`admin_page`]) carries a token that can.
    fn admin_only(&self) -> bool {
        false
    }
}

/// What handling an event produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Patches for this page only (for example older messages it asked for).
    pub patches: Vec<Patch>,
    /// The command's last event: the reply waits until this node's read models have it.
    pub committed: Option<Cursor>,
}

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    ReadModel(#[from] cinder_read_models::ProjectionError),
}

/// What a page's token carries: who the visitor is and which view they may join.
#[derive(Debug, Serialize, Deserialize)]
struct ViewToken {
    session: Session,
    path: String,
    /// Issued by a page that checked the admin password: the password's binding (see
    /// [`crate::web::session::Signer::admin_binding`]). Only a token whose binding matches the
    /// node's current password may join `/admin`, so changing the password revokes every admin
    /// token at once. (Tokens of before carried `"admin": true`, which is ignored: revoked.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    admin_binding: Option<String>,
}

impl ViewToken {
    /// Whether this token was issued to the admin under the node's current password.
    fn is_admin(&self, app: &AppState) -> bool {
        self.admin_binding
            .as_deref()
            .is_some_and(|binding| app.signer.is_admin_binding(binding, &app.admin_password))
    }
}

/// The visitor a live view token (of any page) was issued to, and whether it is a valid admin
/// token: how channels other than live views learn who is asking, when a client shows one.
pub fn token_holder(app: &AppState, token: &str) -> Result<(Session, bool), TokenError> {
    let claims: ViewToken = app.signer.verify("lv", token, TOKEN_MAX_AGE)?;
    let admin = claims.is_admin(app);
    Ok((claims.session, admin))
}

/// Finds the live view at `path`: the first app that mounts it (each mounts its own paths).
pub fn mount(path: &str, session: &Session, app: &AppState) -> Option<Box<dyn LiveView>> {
    app.apps
        .iter()
        .find_map(|each| each.mount(path, session, app))
}

/// The full page of a live view: its first paint, with what the client script needs to join.
pub async fn page(app: &AppState, session: &Session, path: &str, view: &dyn LiveView) -> Response {
    render_page(app, session, path, view, false).await
}

/// [`page`] for the admin's views, whose token lets the socket join them.
pub async fn admin_page(
    app: &AppState,
    session: &Session,
    path: &str,
    view: &dyn LiveView,
) -> Response {
    render_page(app, session, path, view, true).await
}

async fn render_page(
    app: &AppState,
    session: &Session,
    path: &str,
    view: &dyn LiveView,
    admin: bool,
) -> Response {
    // Read before rendering: the page reflects at least this much of the log.
    let at = resume::encode(app.progress.current());
    let body = match view.render().await {
        Ok(body) => body,
        Err(ViewError::NotFound) => return super::errors::not_found_page(app, session),
        Err(error) => return super::errors::internal_page(error),
    };
    let token = app.signer.sign(
        "lv",
        &ViewToken {
            session: session.clone(),
            path: path.to_owned(),
            admin_binding: admin.then(|| app.signer.admin_binding(&app.admin_password)),
        },
    );
    let live = layout::Live {
        path,
        token: &token,
        at: Some(&at),
    };
    let html = layout::page(&view.title(), app, session, Some(live), body);
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::response::Html(html.into_string()),
    )
        .into_response()
}

/// A live page whose first paint was rendered by its handler (`body`), joined as the view at
/// `path`: for pages whose first paint takes more than the view keeps (an aggregate's history).
/// `at` is this node's position (`Progress::current`) read before the handler read what the
/// page shows, so the page reflects at least that much of the log (see [`resume`]).
pub async fn live_markup_page(
    app: &AppState,
    session: &Session,
    path: &str,
    title: &str,
    body: Markup,
    at: Cursor,
) -> Response {
    let at = resume::encode(at);
    let token = app.signer.sign(
        "lv",
        &ViewToken {
            session: session.clone(),
            path: path.to_owned(),
            admin_binding: None,
        },
    );
    let live = layout::Live {
        path,
        token: &token,
        at: Some(&at),
    };
    let html = layout::page(title, app, session, Some(live), body);
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::response::Html(html.into_string()),
    )
        .into_response()
}

/// A live view's page without the live part: rendered once, not joined.
pub async fn static_page(app: &AppState, session: &Session, view: &dyn LiveView) -> Response {
    match view.render().await {
        Ok(body) => {
            let html = layout::page(&view.title(), app, session, None, body);
            (
                [(header::CACHE_CONTROL, "no-store")],
                axum::response::Html(html.into_string()),
            )
                .into_response()
        }
        Err(ViewError::NotFound) => super::errors::not_found_page(app, session),
        Err(error) => super::errors::internal_page(error),
    }
}

/// A live view token given as the socket's connect parameter `token` (Phoenix's
/// `new Socket(url, {params: {token}})`), if there is one.
pub fn connect_token(params: &[(String, String)]) -> Option<&str> {
    params
        .iter()
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.as_str())
}

/// Checks the socket's connect parameter `token`, if it has one, before the upgrade: a
/// tampered, forged or expired token refuses the connection (403), as a Phoenix socket's
/// `connect` does. A join that carries no token of its own then uses this one, so an admin
/// client may connect with the `/admin` page's token and join `lv:/admin` with `{}`.
pub fn check_connect_token(app: &AppState, params: &[(String, String)]) -> Result<(), TokenError> {
    match connect_token(params) {
        Some(token) => app
            .signer
            .verify::<ViewToken>("lv", token, TOKEN_MAX_AGE)
            .map(drop),
        None => Ok(()),
    }
}

/// The text field `name` of a page event's value (a form's field, or a button's `value`); empty
/// if it is missing or not text, which the command's own rules then refuse.
pub fn field(value: &Value, name: &str) -> String {
    value
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Joins `lv:<path>` topics.
pub struct LiveChannels;

#[async_trait]
impl ChannelFactory for LiveChannels {
    fn accepts(&self, topic: &str) -> bool {
        topic.starts_with("lv:")
    }

    async fn join(
        &self,
        topic: &str,
        payload: Value,
        socket: &SocketInfo,
    ) -> Result<Joined, Value> {
        let app = &socket.app;
        let path = &topic["lv:".len()..];
        let token = payload
            .get("token")
            .and_then(Value::as_str)
            .or_else(|| connect_token(&socket.params))
            .unwrap_or_default();
        let claims: ViewToken = app
            .signer
            .verify("lv", token, TOKEN_MAX_AGE)
            .map_err(|e: TokenError| reason(e.to_string()))?;
        if claims.path != path {
            return Err(reason("invalid token"));
        }
        let at = resume::position(app, &payload).await;
        let mut view =
            mount(path, &claims.session, app).ok_or_else(|| reason("no live view here"))?;
        if view.admin_only() && !claims.is_admin(app) {
            return Err(reason("forbidden"));
        }
        view.joined();
        let since = app
            .pubsub
            .subscribe_since(&view.topics(), at, resume::MISSED_AT_MOST);
        let missed = resume::with_log(app, &view.topics(), at, since.latest, since.missed).await;
        let patches = resume::join_patches(app, view.as_mut(), missed)
            .await
            .map_err(|e| reason(e.to_string()))?;
        let mut reply = json!({ "patches": patches });
        if let Some(latest) = since.latest {
            reply["at"] = Value::String(resume::encode(latest));
        }
        Ok(Joined {
            channel: Box::new(LiveChannel {
                view,
                app: app.clone(),
                reached: None,
            }),
            reply,
            subscriptions: since.subscriptions,
        })
    }
}

/// A live view joined over the socket.
struct LiveChannel {
    view: Box<dyn LiveView>,
    app: AppState,
    /// Where the log was before the change being handled, told to the page with its patches.
    reached: Option<Cursor>,
}

#[async_trait]
impl Channel for LiveChannel {
    async fn handle_in(&mut self, event: &str, payload: Value) -> Result<Value, Value> {
        if event != "event" {
            return Err(reason(format!("unknown event {event:?}")));
        }
        let page_event = PageEvent::decode(payload).map_err(|_| reason("malformed event"))?;
        if page_event.kind == "validate" {
            let errors = self.view.validate(&page_event.event, &page_event.value);
            return Ok(json!({ "errors": errors }));
        }
        let value = page_event.value.clone();
        let outcome = self
            .view
            .handle_event(&page_event.event, page_event.value)
            .await?;
        let flash = self.view.flash(&page_event.event, &value);
        self.app.progress.read_your_writes(outcome.committed).await;
        let mut reply = json!({ "patches": outcome.patches });
        if let Some(flash) = flash {
            reply["flash"] = Value::String(flash);
        }
        Ok(reply)
    }

    fn reached(&mut self, position: Option<Cursor>) {
        self.reached = position;
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Push> {
        patch_push(self.view.handle_change(change), self.reached)
    }

    fn shared_key(&mut self, change: &Change) -> Option<RenderKey> {
        self.view.shared_key(change)
    }

    /// Shared by every view that gives the same key for the same change, and so is its
    /// position: the change's own.
    fn render_shared(&self, change: &Change) -> Vec<Push> {
        patch_push(self.view.render_shared(change), self.reached)
    }

    async fn catch_up(&mut self, pusher: &Pusher, missed: bool) -> Result<(), Stalled> {
        if !missed {
            return Ok(());
        }
        // Read before the regions, which then reflect at least this much of the log.
        let latest = self.app.pubsub.latest();
        match self.view.regions().await {
            Ok(patches) => {
                for push in patch_push(patches, latest) {
                    pusher.push(push).await?;
                }
            }
            Err(error) => tracing::warn!(%error, "live view could not re-render after lagging"),
        }
        Ok(())
    }
}

/// The `patch` push of `patches`, with the position the page reflects once it has them, if the
/// log caused them.
fn patch_push(patches: Vec<Patch>, at: Option<Cursor>) -> Vec<Push> {
    if patches.is_empty() {
        return Vec::new();
    }
    let mut payload = json!({ "ops": patches });
    if let Some(at) = at {
        payload["at"] = Value::String(resume::encode(at));
    }
    vec![Push {
        event: "patch",
        payload,
    }]
}
