//! Route handlers, one module per resource, each with its own `router()`.

pub mod admin;
pub mod connect_page;
pub mod connections;
pub mod destinations;
pub mod events;
pub mod ops;
pub mod proxy;
pub mod webhooks;
