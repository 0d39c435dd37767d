use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use crate::bookmarks::BookmarkChange;
use crate::chat::ChatChange;
use crate::drops::DropsChange;
use crate::todos::TodoChange;
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

/// What a projection changed, published after its transaction commits.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// An event every projection of this node has applied (the live tail of the log).
    Logged(StoredEvent),
    Chat(ChatChange),
    Bookmarks(BookmarkChange),
    Todos(TodoChange),
    Drops(DropsChange),
    /// Someone arrived on or left `topic` (a page or channel topic; see the server's presence).
    Presence {
        topic: String,
    },
}

/// The pubsub topic on which every applied event is announced, in log order.
pub const LOG_TOPIC: &str = "log";

impl Change {
    /// The pubsub topic that hears of this change.
    pub fn topic(&self) -> String {
        match self {
            Change::Logged(_) => LOG_TOPIC.to_owned(),
            Change::Chat(change) => change.topic(),
            Change::Bookmarks(change) => change.topic(),
            Change::Todos(change) => change.topic(),
            Change::Drops(change) => change.topic(),
            Change::Presence { topic } => format!("presence/{topic}"),
        }
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
