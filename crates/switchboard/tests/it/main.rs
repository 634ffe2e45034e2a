//! End-to-end tests: the real `switchboard` binary run as a subprocess, each test in
//! its own temporary working directory, talking HTTP on 127.0.0.1 only.

mod audit;
mod browser;
mod cli;
mod cli_connections;
mod cli_events;
mod cli_exit;
mod config;
mod connect;
mod connect_page;
mod console_pages;
mod db_copy;
mod deploy;
mod docs;
mod docs_env;
mod harness;
mod intake;
mod leaks;
mod oidc;
mod oidc_peer;
mod pipeline;
mod postgres;
mod postgres_settings;
mod privacy;
mod providers;
mod proxy;
mod rate_limits;
mod rotate;
mod secrets;
mod security;
mod serve;
mod signals;
mod status;
mod three;
mod webhook;
mod webhook_load;
