//! Route handlers, one module per resource, each with its own `router()`.

pub mod admin;
pub mod connections;
pub mod ops;
pub mod webhooks;
