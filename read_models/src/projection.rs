use std::any::Any;
use std::fmt;
use std::sync::Arc;

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use crate::{LogEvent, RawEvent, StoredEvent, WriteBuffer};

/// What a projection's `apply` returns inside a sled transaction.
pub type TxResult<T> = Result<T, ConflictableTransactionError<ProjectionError>>;

/// A projection: a named, versioned fold of the event log into sled trees.
///
/// The runner opens a transaction over [`Projection::trees`] plus its own checkpoint tree, calls
/// [`Projection::apply`] for each event of a batch, and commits the changes and the new
/// checkpoint together; so an event is applied exactly once, whatever crashes.
pub trait Projection: Send + Sync + 'static {
    /// A stable name, used for the checkpoint and by `cinder replay --projection`.
    fn name(&self) -> &'static str;

    /// Bump this when `apply` changes meaning: the projection is then rebuilt from the log.
    fn version(&self) -> u32;

    /// The trees this projection writes, in the order `apply` receives them.
    fn trees(&self) -> Vec<sled::Tree>;

    /// Fold one event into `trees` (the transactional views of [`Projection::trees`], same
    /// order), pushing what changed for live views onto `changes`. Events of aggregates the
    /// projection does not follow are ignored.
    fn apply(
        &self,
        trees: &[TransactionalTree],
        event: &StoredEvent,
        changes: &mut Vec<Change>,
    ) -> TxResult<()>;

    /// What [`Projection::apply`] does to each of `events`, into a rebuild's [`WriteBuffer`]
    /// (over [`Projection::trees`]) instead of a transaction, announcing nothing: for rebuilding
    /// from the start of the log, when nobody listens. `None` (the default) if the projection
    /// has no such path; the runner then rebuilds it through `apply`, a transaction per batch.
    fn apply_buffered(
        &self,
        _trees: &WriteBuffer,
        _events: &[RawEvent],
    ) -> Option<Result<(), ProjectionError>> {
        None
    }
}

/// Implements [`Projection::apply_buffered`] with `apply`, a projection's fold written against
/// [`Trees`]: what changed is dropped as it comes.
pub(crate) fn apply_each<F>(
    trees: &WriteBuffer,
    events: &[RawEvent],
    mut apply: F,
) -> Result<(), ProjectionError>
where
    F: FnMut(&WriteBuffer, &RawEvent, &mut Vec<Change>) -> TxResult<()>,
{
    let mut changes = Vec::new();
    for event in events {
        apply(trees, event, &mut changes).map_err(aborted)?;
        changes.clear();
    }
    Ok(())
}

/// The error that ended a buffered fold (nothing else can conflict with a write buffer).
pub(crate) fn aborted(error: ConflictableTransactionError<ProjectionError>) -> ProjectionError {
    match error {
        ConflictableTransactionError::Abort(error) => error,
        ConflictableTransactionError::Storage(error) => ProjectionError::Sled(error),
        ConflictableTransactionError::Conflict => {
            ProjectionError::Corrupt("a write buffer reported a conflict".into())
        }
    }
}

/// Folds `events` into `projection` in one transaction, outside the runner: for read models
/// rebuilt on the side, such as the explorer's "as of" views over a temporary sled database.
pub fn fold(projection: &dyn Projection, events: &[StoredEvent]) -> Result<(), ProjectionError> {
    use sled::transaction::TransactionError;
    use sled::Transactional;
    let trees = projection.trees();
    let result = trees
        .as_slice()
        .transaction(|views: &Vec<TransactionalTree>| {
            let mut ignored = Vec::new();
            for event in events {
                projection.apply(views, event, &mut ignored)?;
            }
            Ok(())
        });
    result.map_err(|error| match error {
        TransactionError::Abort(error) => error,
        TransactionError::Storage(error) => ProjectionError::Sled(error),
    })
}

/// What a projection changed, published on a pubsub topic after its transaction commits.
///
/// An open type: each projection announces values of its own change type (a message added to
/// a room, a product's stock level), and the views and channels that follow the topic look for
/// the types they know with [`Change::get`]. Nothing here names an app, so an app adds its
/// changes without touching this crate's shared parts; the server announces its own (an event
/// logged, someone arriving on a page) the same way.
#[derive(Clone)]
pub struct Change {
    topic: Arc<str>,
    value: Arc<dyn ChangeValue>,
}

/// What a [`Change`] may carry: any value that can be shown in logs and shared between
/// threads.
pub trait ChangeValue: Any + fmt::Debug + Send + Sync {
    /// The value, for [`Change::get`] to look at its type.
    fn as_any(&self) -> &dyn Any;
}

impl<T: Any + fmt::Debug + Send + Sync> ChangeValue for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Change {
    /// `value`, announced on `topic`.
    pub fn new(topic: impl Into<Arc<str>>, value: impl ChangeValue) -> Self {
        Self {
            topic: topic.into(),
            value: Arc::new(value),
        }
    }

    /// The pubsub topic that hears of this change.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The change's value, if it is a `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        // Through the `dyn`, not the `Arc` (which is a `ChangeValue` too).
        let value: &dyn ChangeValue = &*self.value;
        value.as_any().downcast_ref()
    }
}

impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Change")
            .field("topic", &self.topic)
            .field("value", &self.value)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("event {position} ({event_type}) could not be read: {source}")]
    Decode {
        position: i64,
        event_type: String,
        source: serde_json::Error,
    },
    #[error("stored read model data is unreadable: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Sled(#[from] sled::Error),
}

impl ProjectionError {
    pub fn decode(event: &impl LogEvent, source: serde_json::Error) -> Self {
        ProjectionError::Decode {
            position: event.position(),
            event_type: event.event_type().to_owned(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Arrived(&'static str);

    #[test]
    fn a_change_gives_back_its_value_by_type_only() {
        let change = Change::new("room/lobby", Arrived("ada"));
        assert_eq!(change.topic(), "room/lobby");
        assert_eq!(change.get::<Arrived>(), Some(&Arrived("ada")));
        assert_eq!(change.clone().get::<Arrived>(), Some(&Arrived("ada")));
        assert_eq!(change.get::<String>(), None);
        assert!(format!("{change:?}").contains("ada"));
    }
}
