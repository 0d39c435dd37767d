//! The store's pages and plain form posts (everything works without JavaScript).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use cinder_domain::drops::PurchaseStatus;
use maud::html;

use super::cart_id;
use super::views::{success, CheckoutView, ShopView};
use super::context;
use crate::web::context::Context;
use crate::web::errors::not_found_page;
use crate::web::forms::csrf_refusal;
use crate::web::live::{page, static_page};
use crate::web::session::Session;
use crate::web::AppState;
use cinder_read_models::drops::DropsReadModel;

pub async fn shop(State(app): State<AppState>,
    Extension(drops): Extension<DropsReadModel>, Extension(session): Extension<Session>) -> Response {
    let view = ShopView::new(app.clone(), drops.clone(), session.clone());
    page(&app, &session, "/drops", &view).await
}

pub async fn checkout(
    State(app): State<AppState>,
    Extension(drops): Extension<DropsReadModel>,
    Extension(session): Extension<Session>,
) -> Response {
    let view = CheckoutView::new(app.clone(), drops.clone(), session.clone());
    page(&app, &session, "/drops/checkout", &view).await
}

/// "Buy now" without JavaScript.
pub async fn buy(
    State(app): State<AppState>,
    Extension(drops): Extension<DropsReadModel>,
    Extension(session): Extension<Session>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = csrf_refusal(&app, &session, form.get("_csrf").map(String::as_str)) {
        return refused;
    }
    let ctx = Context::for_visitor(&app, &session);
    match context::checkout(&ctx, &drops, &cart_id(&session)).await {
        Ok(purchase_id) => Redirect::to(&format!("/drops/purchases/{purchase_id}")).into_response(),
        Err(error) => (
            StatusCode::CONFLICT,
            axum::response::Html(
                html! { h1 { "Not bought" } p { (error.to_string()) } p { a href="/drops/checkout" { "Back" } } }.into_string(),
            ),
        )
            .into_response(),
    }
}

/// The success page of a purchase.
pub async fn purchase(
    State(app): State<AppState>,
    Extension(drops): Extension<DropsReadModel>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    match drops.purchase(&id) {
        Ok(Some(purchase))
            if purchase.cart_id == cart_id(&session)
                && purchase.status == PurchaseStatus::Completed =>
        {
            static_page(&app, &session, &Receipt(id)).await
        }
        _ => not_found_page(&app, &session),
    }
}

/// A completed purchase, as a page.
struct Receipt(String);

#[async_trait::async_trait]
impl crate::web::live::LiveView for Receipt {
    fn title(&self) -> String {
        "Thank you".into()
    }

    async fn render(&self) -> Result<maud::Markup, crate::web::live::ViewError> {
        Ok(html! { (success(&self.0)) p { a href="/drops" { "Back to the store" } } })
    }

    async fn regions(&self) -> Result<Vec<crate::web::live::Patch>, crate::web::live::ViewError> {
        Ok(Vec::new())
    }

    fn topics(&self) -> Vec<String> {
        Vec::new()
    }

    async fn handle_event(
        &mut self,
        _event: &str,
        _value: serde_json::Value,
    ) -> Result<crate::web::live::Outcome, serde_json::Value> {
        Err(serde_json::json!({"reason": "nothing to do here"}))
    }

    fn handle_change(
        &mut self,
        _change: &cinder_read_models::Change,
    ) -> Vec<crate::web::live::Patch> {
        Vec::new()
    }
}

pub async fn add_to_cart(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    cart_form(app, session, form, true).await
}

pub async fn remove_from_cart(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    cart_form(app, session, form, false).await
}

async fn cart_form(
    app: AppState,
    session: Session,
    form: HashMap<String, String>,
    add: bool,
) -> Response {
    if let Some(refused) = csrf_refusal(&app, &session, form.get("_csrf").map(String::as_str)) {
        return refused;
    }
    let item_id = form.get("item_id").cloned().unwrap_or_default();
    let ctx = Context::for_visitor(&app, &session);
    let cart = cart_id(&session);
    let done = match add {
        true => context::add_item_to_cart(&ctx, &cart, item_id).await,
        false => context::remove_item_from_cart(&ctx, &cart, item_id).await,
    };
    match done {
        Ok(()) => Redirect::to("/drops").into_response(),
        Err(error) => (StatusCode::UNPROCESSABLE_ENTITY, error.to_string()).into_response(),
    }
}
