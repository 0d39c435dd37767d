//! The HTTP API described as OpenAPI 3.1, generated from the handlers' own types (utoipa): each
//! JSON handler carries its `#[utoipa::path]` (statuses, parameters, bodies), each body type
//! derives `ToSchema`, and the routes are registered together with their descriptions
//! (`utoipa_axum::routes!`), so an endpoint is served only where it is described. Served at
//! `GET /api/openapi.json`; pages, form posts, assets and the socket (HTML and websockets for
//! browsers) are not part of it.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::errors::{ErrorBody, FieldErrors};

/// The parts of the document that are not an operation: what the API is, its tags, the admin
/// credentials and the shared error bodies.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cinder",
        description = "The JSON API of a Cinder node: read models as JSON, and an HTTP twin of \
                       every command. Writes answer once this node's read models show them. A \
                       write that carries a foreign `Origin` is refused with 403; a body over \
                       CINDER_MAX_BODY_BYTES with 413 (text/plain)."
    ),
    modifiers(&AdminCredentials),
    components(schemas(ErrorBody, FieldErrors)),
    tags(
        (name = "chat", description = "Rooms and messages"),
        (name = "bookmarks", description = "Public bookmarks, tags and discussions"),
        (name = "todos", description = "The caller's todo list (by its session cookie)"),
        (name = "drops", description = "Limited product launches: products, carts, checkout"),
        (name = "events", description = "The event log and aggregate histories"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// HTTP Basic `admin:<CINDER_ADMIN_PASSWORD>`, which the admin endpoints need.
struct AdminCredentials;

impl Modify for AdminCredentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "User `admin`, password CINDER_ADMIN_PASSWORD (or the one kept in \
                         <data dir>/admin_password)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The whole document, as JSON, made once.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        super::routes()
            .into_openapi()
            .to_json()
            .unwrap_or_else(|error| {
                tracing::error!(%error, "the OpenAPI document could not be written");
                String::from("{}")
            })
    })
}

/// `GET /api/openapi.json`: this API's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    operation_id = "operations_openapi_json",
    responses(
        (status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json", body = Object),
    )
)]
pub async fn openapi_json() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document()).into_response()
}
