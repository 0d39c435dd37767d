//! `product:<id>` for outside programs: the join reply is the product with its items and
//! levels; `released` is pushed once when it launches (with the size buttons' HTML), and
//! `stock_change` whenever an item's level changes.

use async_trait::async_trait;
use cinder_read_models::drops::{
    DropsChange, DropsReadModel, ProductView, CATALOG_TOPIC, LEVELS_TOPIC,
};
use cinder_read_models::Change;
use serde_json::{json, Value};

use super::api::product_json;
use crate::pubsub::RenderKey;
use crate::web::socket::{reason, Channel, ChannelFactory, Joined, Push, SocketInfo};
use crate::web::AppState;

pub struct ProductChannels {
    pub drops: DropsReadModel,
}

#[async_trait]
impl ChannelFactory for ProductChannels {
    fn accepts(&self, topic: &str) -> bool {
        topic.starts_with("product:")
    }

    async fn join(
        &self,
        topic: &str,
        _payload: Value,
        socket: &SocketInfo,
    ) -> Result<Joined, Value> {
        let app = &socket.app;
        let id = &topic["product:".len()..];
        let subscriptions = vec![
            app.pubsub.subscribe(CATALOG_TOPIC),
            app.pubsub.subscribe(LEVELS_TOPIC),
        ];
        let product = self
            .drops
            .product(id)
            .map_err(|_| reason("could not read the product"))?
            .ok_or_else(|| reason("no such product"))?;
        Ok(Joined {
            channel: Box::new(ProductChannel {
                app: app.clone(),
                id: id.to_owned(),
                released: product.released,
            }),
            reply: json!({ "product": product_json(&product) }),
            subscriptions,
        })
    }
}

struct ProductChannel {
    app: AppState,
    id: String,
    released: bool,
}

#[async_trait]
impl Channel for ProductChannel {
    async fn handle_in(&mut self, event: &str, _payload: Value) -> Result<Value, Value> {
        Err(reason(format!(
            "product topics are read-only (got {event:?})"
        )))
    }

    /// A release and a stock level are the same push for everyone watching the product:
    /// rendered once (the release with no session, as below).
    fn shared_key(&mut self, change: &Change) -> Option<RenderKey> {
        match change.get::<DropsChange>() {
            Some(DropsChange::Product(product))
                if product.id == self.id && product.released && !self.released =>
            {
                self.released = true;
                Some(RenderKey::new("product:released", 0))
            }
            Some(DropsChange::Level { product_id, .. }) if *product_id == self.id => {
                Some(RenderKey::new("product:stock_change", 0))
            }
            _ => None,
        }
    }

    fn render_shared(&self, change: &Change) -> Vec<Push> {
        match change.get::<DropsChange>() {
            Some(DropsChange::Product(product)) => vec![self.released_push(product)],
            Some(DropsChange::Level {
                product_id,
                item_id,
                level,
            }) => vec![Push {
                event: "stock_change",
                payload: json!({"product_id": product_id, "item_id": item_id, "level": level}),
            }],
            _ => Vec::new(),
        }
    }

    /// Every push of this channel is shared (see `shared_key`).
    fn handle_change(&mut self, _change: &Change) -> Vec<Push> {
        Vec::new()
    }
}

impl ProductChannel {
    /// `released`: the shop's markup of the sizes, with no session (no cart form token).
    fn released_push(&self, product: &ProductView) -> Push {
        let anonymous = crate::web::session::Session {
            id: String::new(),
            name: None,
        };
        let size_html = super::views::sizes(product, &self.app, &anonymous).into_string();
        Push {
            event: "released",
            payload: json!({"product_id": product.id, "size_html": size_html}),
        }
    }
}
