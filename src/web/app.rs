//! Apps: what an app tells the platform, in one value.
//!
//! An app (Chat, Drops, …) is registered once, in the list in `src/web/mod.rs`. Its
//! [`Registration`] says what the platform needs before anything runs (its projections' names,
//! for `cinder replay --help`; its aggregates, for any command bus) and how to open it on a
//! node's read-model database. The opened app is an [`App`]: its projections, routes, channel
//! topics, live views, nav entry, "as of" views and which of its events are private. The shared
//! machinery (store, bus, runner, pubsub, presence, socket, live runtime, explorer, layout) asks
//! the registered apps through this trait and names none of them.

use std::any::Any;
use std::sync::Arc;

use cinder_read_models::{Projection, ProjectionError, StoredEvent};
use serde_json::Value;
use tokio::task::JoinHandle;
use utoipa_axum::router::OpenApiRouter;

use super::events::{NewAsOf, Viewer};
use super::live::LiveView;
use super::session::Session;
use super::socket::ChannelFactory;
use super::AppState;
use crate::bus::CommandBus;
use crate::config::Config;

/// How the platform starts an app: known without a node, so the CLI and any command bus can
/// use it before (or without) opening one.
pub struct Registration {
    /// The app's name, in lower case (`chat`).
    pub name: &'static str,
    /// The names of the projections [`App::projections`] returns, in its order.
    pub projections: &'static [&'static str],
    /// Registers the app's aggregate types on `bus`, with their services and upcasters.
    pub aggregates: fn(&mut CommandBus),
    /// Opens the app's read models on the node's read-model database.
    pub open: fn(&sled::Db) -> Result<Arc<dyn App>, ProjectionError>,
}

/// A link in the site's navigation (and on the "not found" page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nav {
    pub href: &'static str,
    pub label: &'static str,
    /// A few words on what the app is, for the "not found" page.
    pub blurb: &'static str,
}

/// An app opened on a node. Every method but [`App::projections`] has a default, so an app
/// implements only what it has.
pub trait App: Any + Send + Sync {
    /// Its entry in the site's navigation, if it has pages.
    fn nav(&self) -> Option<Nav> {
        None
    }

    /// The projections that keep its read models, in the order of
    /// [`Registration::projections`].
    fn projections(&self) -> Vec<Arc<dyn Projection>>;

    /// Its pages, form posts and JSON API (each endpoint with its OpenAPI description).
    fn routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
    }

    /// The channel topics it serves to socket clients.
    fn channels(&self) -> Vec<Arc<dyn ChannelFactory>> {
        Vec::new()
    }

    /// Its live view at `path`, for the visitor of `session`, if `path` is one of its pages.
    fn mount(&self, _path: &str, _session: &Session, _app: &AppState) -> Option<Box<dyn LiveView>> {
        None
    }

    /// How to rebuild an aggregate of `aggregate_type` "as of" an event, for the explorer, if
    /// the type is this app's and it has such a view.
    fn as_of(&self, _aggregate_type: &str) -> Option<NewAsOf> {
        None
    }

    /// The ids of the aggregates that belong to the visitor of `session` (their todo list,
    /// their cart): what [`Viewer`] lets them see of the log that others may not.
    fn owned_by(&self, _session: &Session) -> Vec<String> {
        Vec::new()
    }

    /// `event`'s payload as `viewer` may see it, if this app hides some of it from them (one
    /// visitor's data, shown to them and the admin only; a private bookmark, to nobody). `None`
    /// shows it whole: the event is not this app's, or nothing of it is private.
    fn redact(&self, _event: &StoredEvent, _viewer: &Viewer) -> Option<Value> {
        None
    }

    /// Whether `viewer` may see the history of this app's aggregate whole (its page of events,
    /// its "as of" views). `true` for what is not this app's.
    fn may_see(&self, _aggregate_type: &str, _aggregate_id: &str, _viewer: &Viewer) -> bool {
        true
    }

    /// Its own styles, added to the shared stylesheet (served together at `/assets/apps.css`,
    /// after `/assets/cinder.css`, whose classes and variables they may use).
    fn styles(&self) -> &'static str {
        ""
    }

    /// Work it runs in the background while the node serves (a process manager's recovery, a
    /// traffic simulator). Aborted when the node stops.
    fn spawn(&self, _app: &AppState, _config: &Config) -> Vec<JoinHandle<()>> {
        Vec::new()
    }
}

/// The apps a node runs, in the order they were registered (the nav's order).
#[derive(Clone, Default)]
pub struct Apps(Arc<Vec<Arc<dyn App>>>);

impl Apps {
    /// Opens every app of `registrations` on `db`.
    pub fn open(registrations: &[&Registration], db: &sled::Db) -> Result<Apps, ProjectionError> {
        let apps = registrations
            .iter()
            .map(|registration| (registration.open)(db))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Apps(Arc::new(apps)))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn App>> {
        self.0.iter()
    }

    /// The app of type `T`, if it is registered: for a context function that needs its own
    /// app's read models.
    pub fn get<T: App>(&self) -> Option<&T> {
        self.0
            .iter()
            .find_map(|app| (app.as_ref() as &dyn Any).downcast_ref::<T>())
    }

    /// Every app's projections, in registration order.
    pub fn projections(&self) -> Vec<Arc<dyn Projection>> {
        self.0.iter().flat_map(|app| app.projections()).collect()
    }

    /// Every app's styles, one after the other in registration order.
    pub fn styles(&self) -> String {
        self.0.iter().map(|app| app.styles()).collect()
    }

    /// The nav entries, in registration order.
    pub fn nav(&self) -> Vec<Nav> {
        self.0.iter().filter_map(|app| app.nav()).collect()
    }
}

/// The names of every projection of `registrations`, in order.
pub fn projection_names(registrations: &[&Registration]) -> Vec<&'static str> {
    registrations
        .iter()
        .flat_map(|registration| registration.projections.iter().copied())
        .collect()
}
