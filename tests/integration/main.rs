//! Integration tests against a real Postgres and real websocket and HTTP clients. One binary,
//! so the workspace links once; each test makes its own database.

mod support;

mod authorization;
mod bench;
mod bookmarks;
mod budgets;
mod bus;
mod chat_api;
mod cli;
mod drops;
mod edges;
mod explorer;
mod group_commit;
mod history;
mod hot_aggregates;
mod http_limits;
mod js;
mod limits;
mod live_paging;
mod longpoll;
mod nodes;
mod openapi;
mod operations;
mod outage;
mod paged_store;
mod polls;
mod presence;
mod privacy;
mod processes;
mod projections;
mod render_once;
mod replay;
mod resume;
mod serializer_v1;
mod socket;
mod store;
mod strict_client;
mod todos;
