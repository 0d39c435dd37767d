//! The HTTP API described as OpenAPI 3.1, generated from the handlers' own types (utoipa): each
//! JSON handler carries its `#[utoipa::path]` (statuses, parameters, bodies), each body type
//! derives `ToSchema`, and the routes are registered together with their descriptions
//! (`utoipa_axum::routes!`), so an endpoint is served only where it is described. Served at
//! `GET /api/openapi.json`; pages, form posts, assets and the socket (HTML and websockets for
//! browsers) are not part of it.

use std::sync::Arc;

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

/// The whole document, as JSON: made once, when the node's router is (each app brings its
/// endpoints and its tag), and handed to [`openapi_json`] as an extension.
#[derive(Clone)]
pub struct Document(Arc<str>);

impl Document {
    pub fn new(openapi: &utoipa::openapi::OpenApi) -> Self {
        let json = openapi.to_json().unwrap_or_else(|error| {
            tracing::error!(%error, "the OpenAPI document could not be written");
            String::from("{}")
        });
        Self(json.into())
    }
}

/// A router whose document starts with `tag` (an app's: its name and what its endpoints do):
/// what each app's routes begin with.
pub fn tagged<S: Clone + Send + Sync + 'static>(
    name: &str,
    description: &str,
) -> utoipa_axum::router::OpenApiRouter<S> {
    let tag = utoipa::openapi::tag::TagBuilder::new()
        .name(name)
        .description(Some(description))
        .build();
    let openapi = utoipa::openapi::OpenApiBuilder::new()
        .tags(Some(vec![tag]))
        .build();
    utoipa_axum::router::OpenApiRouter::with_openapi(openapi)
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
pub async fn openapi_json(axum::Extension(document): axum::Extension<Document>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.0.to_string(),
    )
        .into_response()
}
