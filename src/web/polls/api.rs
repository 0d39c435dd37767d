//! Polls' JSON API: the open polls, one poll with the caller's vote, and the HTTP twin of every
//! command. The caller is the visitor of the session cookie (a program keeps the cookie it is
//! given, as a browser does): its vote, and the polls it may close, are that session's.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cinder_domain::polls::{is_id, PollError};
use cinder_read_models::polls::{PollsReadModel, PublicPoll};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::context::{self, NewPoll, Outcome};
use super::voter_id;
use crate::bus::CommandError;
use crate::web::body::{expected, object};
use crate::web::context::Context;
use crate::web::errors::{command_response, json_error, ErrorBody, FieldErrors};
use crate::web::paging::{self, list_budget};
use crate::web::session::Session;
use crate::web::{params, AppState};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 200;

/// A page of open polls, newest first.
#[derive(Serialize, ToSchema)]
pub struct PollsPage {
    pub polls: Vec<PublicPoll>,
    /// The last id shown, to pass as `before` for older ones; `null` on the last page.
    pub next: Option<String>,
}

/// One poll, and the caller's vote in it.
#[derive(Serialize, ToSchema)]
pub struct OnePoll {
    pub poll: PublicPoll,
    /// The option (from 0) the caller's session voted for; `null` if it has not voted.
    pub your_vote: Option<usize>,
}

/// A poll to ask.
// Described for the document; the handler reads the body field by field, so that each
// wrong field gets its own message.
#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"question": "Tabs or spaces?", "options": ["Tabs", "Spaces"]}))]
pub struct NewPollBody {
    /// 1–200 characters after trimming.
    pub question: String,
    /// 2–10 options, each 1–100 characters after trimming, no two the same (ignoring case);
    /// blank ones are skipped.
    pub options: Vec<String>,
}

/// A vote.
// Described for the document; the handler reads the body itself, so that a whole number
// written `1.0` counts (JSON Schema says it is an integer).
#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"option": 0}))]
pub struct VoteBody {
    /// The option's number, from 0, in the poll's order.
    #[schema(minimum = 0, maximum = 9)]
    pub option: u64,
}

/// `GET /api/polls?before=&limit=`: the open polls, newest first; at most `limit`, and what
/// fits in `CINDER_MAX_REPLY_BYTES`; `next` continues.
#[utoipa::path(
    get,
    path = "/api/polls",
    tag = "polls",
    operation_id = "polls_list",
    params(
        ("before" = Option<String>, Query, pattern = "^[0-9a-f]{16}$", description = "The `next` of an earlier page: only polls asked before that one"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Polls at most (default 50)"),
    ),
    responses(
        (status = 200, description = "A page of open polls, newest first (empty after an unknown poll)", body = PollsPage),
        (status = 400, description = "A bad `before` or `limit`", body = ErrorBody),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
    )
)]
pub async fn list(
    State(app): State<AppState>,
    Extension(polls): Extension<PollsReadModel>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let limit = match params::limit(&query, DEFAULT_LIMIT, MAX_LIMIT) {
        Ok(limit) => limit,
        Err(bad) => return bad.into_response(),
    };
    let before = query.get("before").map(String::as_str);
    if before.is_some_and(|id| !is_id(id)) {
        return json_error(
            StatusCode::BAD_REQUEST,
            "before must be a poll id (16 of 0-9 and a-f), the next of an earlier page",
        );
    }
    let page = polls.open_before(before).and_then(|open| {
        paging::serialized(open.map(|p| p.map(|view| view.poll)), limit, list_budget(&app))
    });
    match page {
        Ok(page) => {
            let next = page
                .more
                .then(|| page.items.last().map(|poll| poll.id.clone()))
                .flatten();
            Json(PollsPage {
                polls: page.items,
                next,
            })
            .into_response()
        }
        Err(error) => read_failed(error),
    }
}

/// `GET /api/polls/<id>`: the poll with its counts, and the caller's vote.
#[utoipa::path(
    get,
    path = "/api/polls/{id}",
    tag = "polls",
    operation_id = "polls_show",
    params(("id" = String, Path, pattern = "^[0-9a-f]{16}$", description = "A poll's id")),
    responses(
        (status = 200, description = "The poll and the caller's vote", body = OnePoll),
        (status = 404, description = "No such poll", body = ErrorBody),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
    )
)]
pub async fn show(
    Extension(polls): Extension<PollsReadModel>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    if !is_id(&id) {
        return no_such_poll();
    }
    answer(&polls, &session, &id, StatusCode::OK)
}

/// `POST /api/polls` `{"question", "options": [...]}`: asked by the caller's session.
#[utoipa::path(
    post,
    path = "/api/polls",
    tag = "polls",
    operation_id = "polls_create",
    request_body = NewPollBody,
    responses(
        (status = 201, description = "Asked by the caller's session (which alone may close it)", body = OnePoll),
        (status = 400, description = "Not a JSON object with a string `question` and an array of strings `options`", body = ErrorBody),
        (status = 409, description = "Conflicting writers that retries could not settle", body = ErrorBody),
        (status = 422, description = "Rules broken, every one by field", body = FieldErrors),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
        (status = 503, description = "The event store is unavailable", body = ErrorBody),
    )
)]
pub async fn create(
    State(app): State<AppState>,
    Extension(polls): Extension<PollsReadModel>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> Response {
    const SHAPE: &str = "{\"question\": a string, \"options\": [strings]}";
    let Some(body) = object(&body) else {
        return expected(SHAPE);
    };
    let Some(Value::String(question)) = body.get("question") else {
        return expected(SHAPE);
    };
    let Some(Value::Array(given)) = body.get("options") else {
        return expected(SHAPE);
    };
    let Some(options) = given
        .iter()
        .map(|option| option.as_str().map(str::to_owned))
        .collect::<Option<Vec<String>>>()
    else {
        return expected(SHAPE);
    };
    let poll = NewPoll {
        question: question.clone(),
        options,
    };
    let ctx = Context::for_visitor(&app, &session);
    let done = context::create_poll(&ctx, poll).await;
    finish(&polls, &session, done, StatusCode::CREATED)
}

/// `POST /api/polls/<id>/votes` `{"option"}`: the caller's vote, or its vote moved there.
#[utoipa::path(
    post,
    path = "/api/polls/{id}/votes",
    tag = "polls",
    operation_id = "polls_vote",
    params(("id" = String, Path, pattern = "^[0-9a-f]{16}$", description = "A poll's id")),
    request_body = VoteBody,
    responses(
        (status = 200, description = "Counted; the poll and the caller's vote", body = OnePoll),
        (status = 400, description = "Not a JSON object `{\"option\": a whole number from 0}`", body = ErrorBody),
        (status = 404, description = "No such poll", body = ErrorBody),
        (status = 409, description = "Conflicting writers that retries could not settle", body = ErrorBody),
        (status = 422, description = "No such option, or the poll is closed", body = FieldErrors),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
        (status = 503, description = "The event store is unavailable", body = ErrorBody),
    )
)]
pub async fn vote(
    State(app): State<AppState>,
    Extension(polls): Extension<PollsReadModel>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if !is_id(&id) {
        return no_such_poll();
    }
    let Some(option) = object(&body).and_then(|body| body.get("option").and_then(whole)) else {
        return expected("{\"option\": a whole number from 0}");
    };
    let ctx = Context::for_visitor(&app, &session);
    let done = context::cast_vote(&ctx, &id, option).await;
    finish(&polls, &session, done, StatusCode::OK)
}

/// `POST /api/polls/<id>/close`: only the session that asked it may.
#[utoipa::path(
    post,
    path = "/api/polls/{id}/close",
    tag = "polls",
    operation_id = "polls_close",
    params(("id" = String, Path, pattern = "^[0-9a-f]{16}$", description = "A poll's id")),
    responses(
        (status = 200, description = "Closed; the poll with its final counts", body = OnePoll),
        (status = 403, description = "The caller's session did not ask this poll", body = ErrorBody),
        (status = 404, description = "No such poll", body = ErrorBody),
        (status = 409, description = "Conflicting writers that retries could not settle", body = ErrorBody),
        (status = 422, description = "The poll is closed already", body = FieldErrors),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
        (status = 503, description = "The event store is unavailable", body = ErrorBody),
    )
)]
pub async fn close(
    State(app): State<AppState>,
    Extension(polls): Extension<PollsReadModel>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    if !is_id(&id) {
        return no_such_poll();
    }
    let ctx = Context::for_visitor(&app, &session);
    let done = context::close_poll(&ctx, &id).await;
    finish(&polls, &session, done, StatusCode::OK)
}

/// The status a refusal is answered with, over HTTP and by the plain form posts alike: an
/// unknown poll is 404, closing another's 403, any other broken rule 422.
pub fn refusal_status(refusal: &PollError) -> StatusCode {
    match refusal {
        PollError::NotFound => StatusCode::NOT_FOUND,
        PollError::NotCreator => StatusCode::FORBIDDEN,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// The poll once `done` (its context waited until this node shows it), or why not.
fn finish(polls: &PollsReadModel, session: &Session, done: Outcome, status: StatusCode) -> Response {
    match done {
        Ok(done) => answer(polls, session, &done.poll_id, status),
        Err(CommandError::Rejected(refusal)) => match refusal_status(&refusal) {
            StatusCode::UNPROCESSABLE_ENTITY => command_response(CommandError::Rejected(refusal)),
            status => json_error(status, &refusal.to_string()),
        },
        Err(error) => command_response(error),
    }
}

/// `{poll, your_vote}` with `status`, or 404.
fn answer(polls: &PollsReadModel, session: &Session, id: &str, status: StatusCode) -> Response {
    let read = polls.get(id).and_then(|found| match found {
        Some(view) => Ok(Some((view.poll, polls.vote_of(id, &voter_id(session))?))),
        None => Ok(None),
    });
    match read {
        Ok(Some((poll, your_vote))) => (status, Json(OnePoll { poll, your_vote })).into_response(),
        Ok(None) => no_such_poll(),
        Err(error) => read_failed(error),
    }
}

/// A whole number from 0 (`2`, or `2.0`, which JSON Schema counts as an integer). One past
/// what a poll can have is as good as any: it is no option.
fn whole(value: &Value) -> Option<usize> {
    if let Some(n) = value.as_u64() {
        return Some(usize::try_from(n).unwrap_or(usize::MAX));
    }
    let n = value.as_f64()?;
    // Saturating: a huge whole number is simply no option.
    (n.is_finite() && n >= 0.0 && n.fract() == 0.0).then_some(n as usize)
}

fn no_such_poll() -> Response {
    json_error(StatusCode::NOT_FOUND, "no such poll")
}

fn read_failed(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "polls read model query failed");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "could not read the read model",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_option_is_a_whole_number_from_zero() {
        assert_eq!(whole(&json!(2)), Some(2));
        assert_eq!(whole(&json!(2.0)), Some(2));
        assert_eq!(whole(&json!(1e300)), Some(usize::MAX));
        for bad in [json!(-1), json!(1.5), json!("1"), json!(null), json!(-0.5)] {
            assert_eq!(whole(&bad), None, "{bad}");
        }
    }
}
