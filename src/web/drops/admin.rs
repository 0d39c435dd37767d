//! `/admin`: the launch dashboard. Shoppers present and where, items in carts by size, counts,
//! all live; release a product, restock a size. Behind HTTP Basic `admin:<password>`.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use cinder_domain::drops::{product_of, Level};
use cinder_read_models::drops::{DropsChange, ProductView, CATALOG_TOPIC, COUNTS_TOPIC};
use cinder_read_models::Change;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::context;
use crate::web::context::Context;
use crate::bus::CommandError;
use cinder_domain::drops::ProductError;
use crate::web::admin::is_admin;
use super::views::SHOPPERS_TOPIC;
use crate::presence::{pubsub_topic, PresenceChanged};
use crate::web::errors::command_reply;
use crate::web::forms::csrf_refusal;
use crate::web::live::{admin_page, LiveView, Outcome, Patch, ViewError};
use crate::web::session::Session;
use crate::web::AppState;
use cinder_read_models::drops::DropsReadModel;

/// 401 with the Basic challenge, so browsers ask for the password.
pub fn challenge() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"Cinder admin\", charset=\"UTF-8\"",
        )],
        "The admin password is needed here.",
    )
        .into_response()
}

pub async fn page(
    State(app): State<AppState>,
    Extension(drops): Extension<DropsReadModel>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
) -> Response {
    if !is_admin(&headers, &app) {
        return challenge();
    }
    admin_page(
        &app,
        &session,
        "/admin",
        &AdminView::new(app.clone(), drops.clone(), session.clone()),
    )
    .await
}

pub struct AdminView {
    app: AppState,
    drops: DropsReadModel,
    session: Session,
}

impl AdminView {
    pub fn new(app: AppState, drops: DropsReadModel, session: Session) -> Self {
        Self {
            app,
            drops,
            session,
        }
    }

    fn shoppers(&self) -> Markup {
        let present = self.app.presence.list(SHOPPERS_TOPIC);
        let unique: BTreeSet<&str> = present.iter().map(|p| p.key.as_str()).collect();
        let mut per_page: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for entry in &present {
            let page = entry.meta.get("page").and_then(Value::as_str);
            per_page
                .entry(page.unwrap_or("?"))
                .or_default()
                .insert(entry.key.as_str());
        }
        html! {
            section #shoppers.stats aria-label="Shoppers" {
                div.stat.stat-main {
                    span.stat-label { "Shoppers now" }
                    span.stat-value { strong #unique-shoppers { (unique.len()) } }
                }
                @for (page, visitors) in &per_page {
                    div.stat {
                        span.stat-label { "on " code { (page) } }
                        span.stat-value { span.count data-page=(page) { (visitors.len()) } }
                    }
                }
                @if per_page.is_empty() {
                    div.stat.stat-empty { span.stat-label { "Nobody is shopping right now." } }
                }
            }
        }
    }

    fn products(&self) -> Result<Markup, ViewError> {
        let products = self.drops.products()?;
        Ok(html! {
            section #admin-products {
                @for product in &products { (self.product(product)) }
            }
        })
    }

    fn product(&self, product: &ProductView) -> Markup {
        html! {
            article.admin-product.card id={ "admin-product-" (product.id) } {
                div.admin-product-head {
                    h2 { (product.name) " " span.muted.sku { (product.sku) } }
                    @if product.released {
                        span.badge.released { "Released" }
                    } @else {
                        form method="post" action="/admin/release" {
                            input type="hidden" name="_csrf" value=(self.app.signer.csrf_token(&self.session));
                            input type="hidden" name="product_id" value=(product.id);
                            button type="submit" data-cinder-click="release" value=(product.id) { "Release " (product.name) }
                        }
                    }
                }
                div.table-wrap {
                    table.sizes-table {
                        thead { tr { th scope="col" { "Size" } th scope="col" { "Available" } th scope="col" { "Level" } th scope="col" { "In carts" } th scope="col" { "Restock" } } }
                        tbody {
                            @for item in &product.items {
                                tr {
                                    th scope="row" { (item.size) }
                                    td.available {
                                        div.bar {
                                            (stock_bar(&item.id, item.available))
                                            span.number id={ "count-" (item.id) } { (item.available) }
                                        }
                                    }
                                    td { (level_badge(&item.id, item.level)) }
                                    td.number { span id={ "incart-" (item.id) } { (self.drops.carts_holding(&item.id).unwrap_or(0)) } }
                                    td {
                                        form.inline.restock method="post" action="/admin/restock" data-cinder-submit="restock" data-cinder-keep {
                                            input type="hidden" name="_csrf" value=(self.app.signer.csrf_token(&self.session));
                                            input type="hidden" name="item_id" value=(item.id);
                                            input type="number" name="quantity" value="100" min="1" max="100000" aria-label={ "units of size " (item.size) };
                                            button type="submit" { "Restock" }
                                            span.error data-cinder-error {}
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[async_trait]
impl LiveView for AdminView {
    fn title(&self) -> String {
        "Admin".into()
    }

    fn admin_only(&self) -> bool {
        true
    }

    async fn render(&self) -> Result<Markup, ViewError> {
        Ok(html! {
            div.page-head {
                h1 { "Launch control" }
                p.lead { "Shoppers, stock and carts as they change, on every node." }
            }
            p.flash data-cinder-flash role="alert" {}
            (self.shoppers())
            (self.products()?)
        })
    }

    async fn regions(&self) -> Result<Vec<Patch>, ViewError> {
        Ok(vec![
            Patch::replace("shoppers", self.shoppers()),
            Patch::replace("admin-products", self.products()?),
        ])
    }

    /// The products, counts and carts are in the log (a count says its bar and level too); the
    /// shoppers are who is here now, which the log does not record: sent whole.
    async fn unlogged_regions(&self) -> Option<Result<Vec<Patch>, ViewError>> {
        Some(Ok(vec![Patch::replace("shoppers", self.shoppers())]))
    }

    fn topics(&self) -> Vec<String> {
        vec![
            CATALOG_TOPIC.to_owned(),
            COUNTS_TOPIC.to_owned(),
            pubsub_topic(SHOPPERS_TOPIC),
        ]
    }

    async fn handle_event(&mut self, event: &str, value: Value) -> Result<Outcome, Value> {
        let text = |name: &str| {
            value
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let no_such = || json!({"reason": "no such product or item"});
        let ctx = Context::for_visitor(&self.app, &self.session);
        let done = match event {
            "release" => {
                let product_id = text("value");
                if !cinder_domain::drops::is_valid_sku(&product_id) {
                    return Err(no_such());
                }
                context::release_product(&ctx, &product_id).await
            }
            "restock" => {
                let item_id = text("item_id");
                let quantity = text("quantity")
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| json!({"errors": {"quantity": ["must be a whole number"]}, "message": "the quantity must be a whole number"}))?;
                if !product_of(&item_id).is_some_and(cinder_domain::drops::is_valid_sku) {
                    return Err(no_such());
                }
                context::restock_item(&ctx, &item_id, quantity).await
            }
            _ => return Err(json!({"reason": format!("unknown event {event:?}")})),
        };
        done.map_err(command_reply)?;
        Ok(Outcome::default())
    }

    fn flash(&self, event: &str, value: &Value) -> Option<String> {
        let text = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or_default();
        match event {
            "release" => {
                let product = self.drops.product(text("value")).ok().flatten()?;
                Some(format!("Released {}", product.name))
            }
            "restock" => {
                let item_id = text("item_id");
                let (product, item) = self.drops.item(item_id).ok().flatten()?;
                Some(format!(
                    "Restocked {} size {}: +{}",
                    product.name,
                    item.size,
                    text("quantity").trim()
                ))
            }
            _ => None,
        }
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Patch> {
        if change.get::<PresenceChanged>().is_some() {
            return vec![Patch::replace("shoppers", self.shoppers())];
        }
        match change.get::<DropsChange>() {
            Some(DropsChange::Product(product)) => match self.products() {
                Ok(all) => vec![Patch::replace("admin-products", all)],
                Err(_) => vec![Patch::replace(
                    format!("admin-product-{}", product.id),
                    self.product(product),
                )],
            },
            Some(DropsChange::Count {
                item_id, available, ..
            }) => vec![
                Patch::replace(format!("bar-{item_id}"), stock_bar(item_id, *available)),
                Patch::replace(
                    format!("count-{item_id}"),
                    html! { span.number id={ "count-" (item_id) } { (available) } },
                ),
                Patch::replace(
                    format!("level-{item_id}"),
                    level_badge(item_id, Level::of(*available)),
                ),
            ],
            Some(DropsChange::InCarts { item_id, carts }) => vec![Patch::replace(
                format!("incart-{item_id}"),
                html! { span id={ "incart-" (item_id) } { (carts) } },
            )],
            _ => Vec::new(),
        }
    }
}

/// Units a full stock bar stands for: the seed's sizes start with up to 1,200, and the level is
/// "high" from 500, so a full bar reads "plenty" and a short one "about to sell out".
const BAR_FULL: u32 = 1000;

/// A size's available units as a bar (a `<meter>`, which browsers colour by the level's
/// thresholds, and which says its value to screen readers).
fn stock_bar(item_id: &str, available: u32) -> Markup {
    html! {
        meter id={ "bar-" (item_id) } min="0" max=(BAR_FULL) low="150" high="500"
            optimum=(BAR_FULL) value=(available.min(BAR_FULL)) aria-hidden="true" {
            (available)
        }
    }
}

/// A size's level, in words and colour.
fn level_badge(item_id: &str, level: Level) -> Markup {
    html! {
        span id={ "level-" (item_id) } class={ "badge level-" (level.as_str()) } { (level.as_str()) }
    }
}

#[derive(Deserialize)]
pub struct ReleaseForm {
    product_id: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// Release without JavaScript (the browser re-sends the Basic credentials).
pub async fn release_form(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    Form(form): Form<ReleaseForm>,
) -> Response {
    if !is_admin(&headers, &app) {
        return challenge();
    }
    if let Some(refused) = csrf_refusal(&app, &session, Some(&form.csrf)) {
        return refused;
    }
    if !cinder_domain::drops::is_valid_sku(&form.product_id) {
        return (StatusCode::NOT_FOUND, "no such product or item").into_response();
    }
    let ctx = Context::for_visitor(&app, &session);
    admin_answer(context::release_product(&ctx, &form.product_id).await)
}

#[derive(Deserialize)]
pub struct RestockForm {
    item_id: String,
    quantity: u32,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

pub async fn restock_form(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    Form(form): Form<RestockForm>,
) -> Response {
    if !is_admin(&headers, &app) {
        return challenge();
    }
    if let Some(refused) = csrf_refusal(&app, &session, Some(&form.csrf)) {
        return refused;
    }
    if !product_of(&form.item_id).is_some_and(cinder_domain::drops::is_valid_sku) {
        return (StatusCode::NOT_FOUND, "no such product or item").into_response();
    }
    let ctx = Context::for_visitor(&app, &session);
    admin_answer(context::restock_item(&ctx, &form.item_id, form.quantity).await)
}

/// Back to the dashboard once `done` (its context waited until this node shows it), or why
/// not.
fn admin_answer(done: Result<(), CommandError<ProductError>>) -> Response {
    match done {
        Ok(()) => Redirect::to("/admin").into_response(),
        Err(error) => (StatusCode::UNPROCESSABLE_ENTITY, error.to_string()).into_response(),
    }
}
