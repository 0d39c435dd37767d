//! The store's live views: the shop with the cart, and checkout.

use async_trait::async_trait;
use cinder_domain::drops::Level;
use cinder_read_models::drops::{
    cart_topic, DropsChange, ItemView, ProductView, CATALOG_TOPIC, LEVELS_TOPIC,
};
use cinder_read_models::Change;
use maud::{html, Markup};
use serde_json::{json, Value};

use super::cart_id;
use super::context;
use crate::web::context::Context;
use crate::presence::{opaque_key, Tracked};
use crate::process::checkout::describe;
use crate::web::errors::command_reply;
use crate::web::live::{LiveView, Outcome, Patch, ViewError};
use crate::web::session::Session;
use crate::web::AppState;
use cinder_read_models::drops::DropsReadModel;

/// Adds or removes (`add`) item `item_id` of the visitor's cart (their session's), from a page.
async fn change_cart(
    app: &AppState,
    session: &Session,
    add: bool,
    item_id: String,
) -> Result<Outcome, Value> {
    let ctx = Context::for_visitor(app, session);
    let cart = cart_id(session);
    let done = match add {
        true => context::add_item_to_cart(&ctx, &cart, item_id).await,
        false => context::remove_item_from_cart(&ctx, &cart, item_id).await,
    };
    done.map_err(command_reply)?;
    Ok(Outcome::default())
}

fn item_value(value: &Value) -> String {
    value
        .get("value")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The presence topic of shoppers (on `/drops` or `/drops/checkout`, as meta `page`).
pub const SHOPPERS_TOPIC: &str = "drops";

/// Counts the shopper as on `page` (for the admin) until the guard is dropped.
fn track_shopper(app: &AppState, session: &Session, page: &str) -> Tracked {
    app.presence.track(
        SHOPPERS_TOPIC,
        &opaque_key(&session.id),
        json!({ "page": page }),
    )
}

/// `/drops`: every product in display order, live levels, and the cart.
pub struct ShopView {
    app: AppState,
    drops: DropsReadModel,
    session: Session,
    /// The cart's items, to know which cart lines a level change greys out.
    cart: Vec<String>,
    present: Option<Tracked>,
}

impl ShopView {
    pub fn new(app: AppState, drops: DropsReadModel, session: Session) -> Self {
        let cart = drops.cart(&cart_id(&session)).unwrap_or_default();
        Self {
            app,
            drops,
            session,
            cart,
            present: None,
        }
    }

    fn products(&self) -> Result<Markup, ViewError> {
        product_list(&self.app, &self.drops, &self.session)
    }
}

fn product_list(
    app: &AppState,
    drops: &DropsReadModel,
    session: &Session,
) -> Result<Markup, ViewError> {
    let products = drops.products()?;
    Ok(html! {
        section #products.products {
            @for product in &products { (product_card(product, app, session)) }
            @if products.is_empty() { p.muted { "Nothing to launch yet." } }
        }
    })
}

#[async_trait]
impl LiveView for ShopView {
    fn title(&self) -> String {
        "Drops".into()
    }

    async fn render(&self) -> Result<Markup, ViewError> {
        Ok(html! {
            div.page-head {
                h1 { "Drops" }
                p.lead { "Limited sneakers, released live. Stock levels change as others buy." }
            }
            p.flash data-cinder-flash role="alert" {}
            div.store {
                (self.products()?)
                (cart_panel(&self.app, &self.drops, &self.session, &self.cart))
            }
        })
    }

    async fn regions(&self) -> Result<Vec<Patch>, ViewError> {
        Ok(vec![
            Patch::replace("products", self.products()?),
            Patch::replace("cart", cart_panel(&self.app, &self.drops, &self.session, &self.cart)),
        ])
    }

    /// What the page shows changes only by the log: products created and released (the list
    /// is sent whole, as it is now), each size's level, and the cart. The view's cart is read
    /// when it mounts, so a replay greys out the lines of the cart as it is now, and a missed
    /// change of the cart sends the panel whole. (The shopper is counted as present, but this
    /// page does not show who is.)
    async fn unlogged_regions(&self) -> Option<Result<Vec<Patch>, ViewError>> {
        Some(Ok(Vec::new()))
    }

    fn topics(&self) -> Vec<String> {
        vec![
            CATALOG_TOPIC.to_owned(),
            LEVELS_TOPIC.to_owned(),
            cart_topic(&cart_id(&self.session)),
        ]
    }

    async fn handle_event(&mut self, event: &str, value: Value) -> Result<Outcome, Value> {
        let item_id = item_value(&value);
        match event {
            "add_to_cart" => change_cart(&self.app, &self.session, true, item_id).await,
            "remove_from_cart" => change_cart(&self.app, &self.session, false, item_id).await,
            _ => Err(json!({"reason": format!("unknown event {event:?}")})),
        }
    }

    fn flash(&self, event: &str, value: &Value) -> Option<String> {
        let item_id = item_value(value);
        let what = match self.drops.item(&item_id) {
            Ok(Some((product, _))) => describe(&product, &item_id),
            _ => "The size".to_owned(),
        };
        match event {
            "add_to_cart" => Some(format!("{what} is in your cart")),
            "remove_from_cart" => Some(format!("{what} is out of your cart")),
            _ => None,
        }
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Patch> {
        shop_change(&self.app, &self.drops, &self.session, &mut self.cart, change)
    }

    fn joined(&mut self) {
        self.present = Some(track_shopper(&self.app, &self.session, "/drops"));
    }
}

/// What the shop does with a change: levels restyle size buttons and grey out cart lines; the
/// cart follows every tab of the session.
fn shop_change(
    app: &AppState,
    drops: &DropsReadModel,
    session: &Session,
    cart: &mut Vec<String>,
    change: &Change,
) -> Vec<Patch> {
    let Some(change) = change.get::<DropsChange>() else {
        return Vec::new();
    };
    match change {
        // Created or released: the list is short, show it whole (a new product appears too).
        DropsChange::Product(_) => match product_list(app, drops, session) {
            Ok(list) => vec![Patch::replace("products", list)],
            Err(error) => {
                tracing::warn!(%error, "drops: could not render the products");
                Vec::new()
            }
        },
        DropsChange::Level {
            product_id,
            item_id,
            level,
        } => {
            let mut patches = Vec::new();
            let product = drops.product(product_id).ok().flatten();
            if let Some(item) = product.as_ref().and_then(|p| p.item(item_id)) {
                patches.push(Patch::replace(
                    format!("item-{item_id}"),
                    size_button(item, *level),
                ));
            }
            if cart.contains(item_id) {
                if let Some(product) = &product {
                    patches.push(Patch::replace(
                        format!("cart-item-{item_id}"),
                        cart_line(app, session, product, item_id, *level),
                    ));
                }
            }
            patches
        }
        DropsChange::Cart {
            cart_id: changed,
            items,
        } if *changed == cart_id(session) => {
            *cart = items.clone();
            vec![Patch::replace("cart", cart_panel(app, drops, session, cart))]
        }
        _ => Vec::new(),
    }
}

/// `/drops/checkout`: the cart, its total, and "buy".
pub struct CheckoutView {
    app: AppState,
    drops: DropsReadModel,
    session: Session,
    cart: Vec<String>,
    present: Option<Tracked>,
    /// The purchase this page just made: its "thank you" stays while the cart is empty (the
    /// emptied cart arrives as a change after the reply).
    purchased: Option<String>,
}

impl CheckoutView {
    pub fn new(app: AppState, drops: DropsReadModel, session: Session) -> Self {
        let cart = drops.cart(&cart_id(&session)).unwrap_or_default();
        Self {
            app,
            drops,
            session,
            cart,
            present: None,
            purchased: None,
        }
    }

    /// "Buy now", or the "thank you" of the purchase just made while the cart stays empty.
    fn buy_region(&self) -> Markup {
        match &self.purchased {
            Some(purchase_id) if self.cart.is_empty() => success(purchase_id),
            _ => buy_control(&self.app, &self.session, &self.cart),
        }
    }
}

#[async_trait]
impl LiveView for CheckoutView {
    fn title(&self) -> String {
        "Checkout".into()
    }

    async fn render(&self) -> Result<Markup, ViewError> {
        Ok(html! {
            div.page-head {
                h1 { "Checkout" }
                p.lead { a href="/drops" { "Back to the store" } }
            }
            div.narrow.card.checkout-card {
                (summary(&self.drops, &self.cart))
                (self.buy_region())
                p.error data-cinder-flash role="alert" {}
            }
        })
    }

    async fn regions(&self) -> Result<Vec<Patch>, ViewError> {
        Ok(vec![
            Patch::replace("summary", summary(&self.drops, &self.cart)),
            Patch::replace("checkout", self.buy_region()),
        ])
    }

    fn topics(&self) -> Vec<String> {
        vec![LEVELS_TOPIC.to_owned(), cart_topic(&cart_id(&self.session))]
    }

    async fn handle_event(&mut self, event: &str, _value: Value) -> Result<Outcome, Value> {
        if event != "buy" {
            return Err(json!({"reason": format!("unknown event {event:?}")}));
        }
        let ctx = Context::for_visitor(&self.app, &self.session);
        match context::checkout(&ctx, &self.drops, &cart_id(&self.session)).await {
            Ok(purchase_id) => {
                let patch = Patch::replace("checkout", success(&purchase_id));
                self.purchased = Some(purchase_id);
                Ok(Outcome {
                    patches: vec![patch],
                    committed: None,
                })
            }
            Err(error) => Err(json!({"reason": error.to_string()})),
        }
    }

    /// What the page shows changes only by the log: the cart, and the levels of its items.
    /// The view's cart is read when it mounts, so a replay marks sold out the lines of the cart
    /// as it is now, and a missed change of the cart sends the summary whole. (The "thank you"
    /// of a purchase is this page's reply, not the log's: a page that kept it keeps it.)
    async fn unlogged_regions(&self) -> Option<Result<Vec<Patch>, ViewError>> {
        Some(Ok(Vec::new()))
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Patch> {
        match change.get::<DropsChange>() {
            // A line of the summary, as the summary shows it (with its price).
            Some(DropsChange::Level {
                product_id,
                item_id,
                level,
            }) if self.cart.contains(item_id) => match self.drops.product(product_id) {
                Ok(Some(product)) => vec![Patch::replace(
                    format!("cart-item-{item_id}"),
                    summary_line(&product, item_id, *level),
                )],
                _ => Vec::new(),
            },
            // Sent even if it looks like the view's cart: that is read when the view mounts, so
            // in a replay it may already be what this change made it.
            Some(DropsChange::Cart { cart_id: changed, items })
                if *changed == cart_id(&self.session) =>
            {
                self.cart = items.clone();
                vec![
                    Patch::replace("summary", summary(&self.drops, &self.cart)),
                    Patch::replace("checkout", self.buy_region()),
                ]
            }
            _ => Vec::new(),
        }
    }

    fn joined(&mut self) {
        self.present = Some(track_shopper(&self.app, &self.session, "/drops/checkout"));
    }
}

pub fn success(purchase_id: &str) -> Markup {
    html! {
        div #checkout.success role="status" {
            h2 { "Thank you!" }
            p { "Your order " code { (purchase_id) } " is complete. Enjoy your new pair." }
        }
    }
}

/// "Buy now": disabled while the cart is empty (the summary says so; nothing to buy).
fn buy_control(app: &AppState, session: &Session, cart: &[String]) -> Markup {
    html! {
        div #checkout {
            form method="post" action="/drops/checkout" {
                input type="hidden" name="_csrf" value=(app.signer.csrf_token(session));
                button.buy type="submit" data-cinder-click="buy" disabled[cart.is_empty()] { "Buy now" }
            }
        }
    }
}

fn summary(drops: &DropsReadModel, cart: &[String]) -> Markup {
    let lines: Vec<_> = cart
        .iter()
        .filter_map(|id| drops.item(id).ok().flatten())
        .collect();
    let total: u64 = lines.iter().map(|(p, _)| u64::from(p.price_usd)).sum();
    html! {
        div #summary {
            @if lines.is_empty() {
                p.empty { "Your cart is empty. " a href="/drops" { "Pick a size in the store" } "." }
            } @else {
                ol.cart-lines {
                    @for (product, item) in &lines { (summary_line(product, &item.id, item.level)) }
                }
                p.total { span { "Total" } strong { "$" (total) } }
            }
        }
    }
}

/// A line of the checkout's summary; a sold-out item is greyed out and says so.
fn summary_line(product: &ProductView, item_id: &str, level: Level) -> Markup {
    html! {
        li.cart-item.out[level == Level::Out] id={ "cart-item-" (item_id) } {
            span.name { (describe(product, item_id)) }
            @if level == Level::Out { " " span.badge.sold-out { "sold out" } }
            span.price { "$" (product.price_usd) }
        }
    }
}

pub fn product_card(product: &ProductView, app: &AppState, session: &Session) -> Markup {
    html! {
        article.product.card id={ "product-" (product.id) } {
            @let image = if product.image_url.starts_with('/') || product.image_url.starts_with("https://") {
                product.image_url.clone()
            } else {
                super::image::path(&product.id)
            };
            img.product-image src=(image) alt="" width="320" height="200";
            div.product-body {
                h2 { (product.name) }
                p.product-meta { span.brand { (product.brand) } " · " (product.color) }
                p.price { "$" (product.price_usd) }
                @if product.released {
                    (sizes(product, app, session))
                } @else {
                    p.soon { "coming soon..." }
                }
            }
        }
    }
}

/// The size buttons of a released product; without JavaScript each is a form post.
pub fn sizes(product: &ProductView, app: &AppState, session: &Session) -> Markup {
    html! {
        form.sizes id={ "sizes-" (product.id) } method="post" action="/drops/cart"
            aria-label={ "Sizes of " (product.name) } {
            input type="hidden" name="_csrf" value=(app.signer.csrf_token(session));
            @for item in &product.items { (size_button(item, item.level)) }
        }
    }
}

pub fn size_button(item: &ItemView, level: Level) -> Markup {
    html! {
        button type="submit" name="item_id" value=(item.id) id={ "item-" (item.id) }
            class={ "size level-" (level.as_str()) } data-level=(level.as_str())
            data-cinder-click="add_to_cart" disabled[level == Level::Out] {
            span.size-name { (item.size) }
            span.level-label { (level_label(level)) }
        }
    }
}

/// What a size's level says in words, so the colour is never the only sign.
pub(super) fn level_label(level: Level) -> &'static str {
    match level {
        Level::High => "in stock",
        Level::Medium => "limited",
        Level::Low => "few left",
        Level::Out => "sold out",
    }
}

fn cart_panel(
    app: &AppState,
    drops: &DropsReadModel,
    session: &Session,
    cart: &[String],
) -> Markup {
    html! {
        aside #cart.cart.card aria-labelledby="cart-heading" {
            h2 #cart-heading { "Your cart " span.count { (cart.len()) } }
            @if cart.is_empty() {
                p.empty { "Nothing yet: pick a size to add it." }
            }
            ol #cart-items.cart-lines {
                @for item_id in cart {
                    @match drops.item(item_id).ok().flatten() {
                        Some((product, item)) => {
                            (cart_line(app, session, &product, item_id, item.level))
                        }
                        None => {}
                    }
                }
            }
            @if !cart.is_empty() { a.checkout.button href="/drops/checkout" { "Check out" } }
        }
    }
}

/// A line of the cart; a sold-out item is greyed out (class `out`).
fn cart_line(
    app: &AppState,
    session: &Session,
    product: &ProductView,
    item_id: &str,
    level: Level,
) -> Markup {
    html! {
        li.cart-item.out[level == Level::Out] id={ "cart-item-" (item_id) } data-level=(level.as_str()) {
            span.name { (describe(product, item_id)) }
            @if level == Level::Out { " " span.badge.sold-out { "sold out" } }
            form.inline method="post" action="/drops/cart/remove" {
                input type="hidden" name="_csrf" value=(app.signer.csrf_token(session));
                button.link type="submit" name="item_id" value=(item_id) data-cinder-click="remove_from_cart" { "remove" }
            }
        }
    }
}
