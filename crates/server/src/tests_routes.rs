//! The router and `/openapi.json` describe the same routes.
//!
//! Routes are declared once (`#[utoipa::path]` + `routes!` into [`crate::routes::Routes`]),
//! so a documented route is served by construction; these tests check it end to end, and
//! close the other direction: nothing is served that the document does not list.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::ApiError;
use crate::tests::start_with;

/// The methods OpenAPI path items may carry that axum routes (CONNECT has no filter).
const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

/// Routes mounted outside [`crate::routes::Routes`], in [`crate::router`], with why.
/// Each must still be in the document ([`crate::ApiDoc`] lists them by hand).
const OUTSIDE_ROUTES: [(&str, &str, &[&str]); 1] = [(
    // Its own layer stack (streaming: no timeout, no body limit, no JSON rewriting), and a
    // catch-all tail (`{*path}` in axum) that OpenAPI can only express as one parameter.
    "/api/proxy/{connection_id}/{*path}",
    "/api/proxy/{connection_id}/{path}",
    &["get", "post", "put", "patch", "delete", "head", "options"],
)];

/// Every (path, method) of the served document.
async fn documented(h: &crate::tests::Harness) -> BTreeMap<String, BTreeSet<String>> {
    let res = h.http.get(h.url("/openapi.json")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = res.json().await.unwrap();
    let served_doc = serde_json::to_value(crate::openapi()).unwrap();
    assert_eq!(doc, served_doc, "/openapi.json is crate::openapi()");
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let methods = METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (*m).to_owned())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

/// `path` with each `{param}` replaced by `x`.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                "x"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether a response is the router's own "no such route" (the fallback's 404) or a 405.
async fn unrouted(res: reqwest::Response) -> Option<String> {
    let status = res.status();
    if status == StatusCode::METHOD_NOT_ALLOWED {
        return Some("405".into());
    }
    if status == StatusCode::NOT_FOUND {
        let body: Value = res.json().await.unwrap_or_default();
        let fallback = ApiError::for_status(axum::http::StatusCode::NOT_FOUND).message;
        if body["error"]["message"] == fallback.as_str() {
            return Some("the fallback 404".into());
        }
    }
    None
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let h = start_with("", None).await;
    let doc = documented(&h).await;
    assert!(doc.len() >= 30, "only {} paths documented", doc.len());
    let mut missing = Vec::new();
    for (path, methods) in &doc {
        assert!(!methods.is_empty(), "{path} has no operation");
        for m in methods {
            let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
            let res = h
                .http
                .request(method, h.url(&concrete(path)))
                .bearer_auth(&h.admin)
                .send()
                .await
                .unwrap();
            if let Some(why) = unrouted(res).await {
                missing.push(format!("{m} {path}: {why}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "documented but not served: {missing:#?}"
    );
}

#[tokio::test]
async fn no_method_is_served_that_is_not_documented() {
    let h = start_with("", None).await;
    let doc = documented(&h).await;
    let mut extra = Vec::new();
    for (path, methods) in &doc {
        for m in ["get", "post", "put", "patch", "delete"] {
            // GET routes answer HEAD too (axum); HEAD is not probed.
            if methods.contains(m) {
                continue;
            }
            let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
            let res = h
                .http
                .request(method, h.url(&concrete(path)))
                .bearer_auth(&h.admin)
                .send()
                .await
                .unwrap();
            if res.status() != StatusCode::METHOD_NOT_ALLOWED {
                extra.push(format!("{m} {path}: {}", res.status()));
            }
        }
    }
    assert!(extra.is_empty(), "served but not documented: {extra:#?}");
}

#[tokio::test]
async fn routes_mounted_outside_routes_are_documented() {
    let h = start_with("", None).await;
    let doc = documented(&h).await;
    for (_, documented_as, methods) in OUTSIDE_ROUTES {
        let got = doc
            .get(documented_as)
            .unwrap_or_else(|| panic!("{documented_as} is not in /openapi.json"));
        let want: BTreeSet<String> = methods.iter().map(|m| (*m).to_owned()).collect();
        assert_eq!(got, &want, "methods of {documented_as}");
    }
}

/// The source files of this crate's library (not its tests).
fn library_sources() -> Vec<(String, String)> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut out = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(root)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".rs") || name.starts_with("tests") {
                continue;
            }
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            out.push((rel, std::fs::read_to_string(&p).unwrap()));
        }
    }
    out
}

/// The only way to mount a route that bypasses `routes!` is axum's own `route`,
/// `route_service`, `nest` or `nest_service`; the library calls them only for
/// [`OUTSIDE_ROUTES`] and the `/api` fallback.
#[test]
fn routes_are_mounted_only_through_routes_macro() {
    let allowed = [
        ("lib.rs", r#".route("/api/{*rest}", any(api_fallback))"#),
        (
            "routes/proxy.rs",
            r#".route("/api/proxy/{connection_id}/{*path}", any(proxy))"#,
        ),
    ];
    let mut found = Vec::new();
    for (file, text) in library_sources() {
        for call in [".route(", ".route_service(", ".nest(", ".nest_service("] {
            for (at, _) in text.match_indices(call) {
                let line_end = text[at..].find('\n').map_or(text.len(), |e| at + e);
                found.push((file.clone(), text[at..line_end].trim().to_owned()));
            }
        }
    }
    let found: BTreeSet<(String, String)> = found.into_iter().collect();
    let allowed: BTreeSet<(String, String)> = allowed
        .iter()
        .map(|(f, c)| ((*f).to_owned(), (*c).to_owned()))
        .collect();
    assert_eq!(
        found, allowed,
        "declare routes with #[utoipa::path] and routes!(…) in a Routes; a route mounted \
         outside must be added to OUTSIDE_ROUTES and to ApiDoc"
    );
    assert!(
        OUTSIDE_ROUTES
            .iter()
            .all(|(mounted, _, _)| mounted.starts_with("/api/proxy/")),
        "OUTSIDE_ROUTES and the allowed mounts above name the same routes"
    );
}

#[test]
#[should_panic(expected = "one routes!(…) per path")]
fn handlers_of_two_paths_in_one_routes_call_are_refused() {
    let _ = crate::routes::Routes::new().routes(utoipa_axum::routes!(
        crate::routes::ops::healthz,
        crate::routes::admin::create_key
    ));
}

/// Every operation of the document, with its path.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((path.clone(), m.to_owned(), op.clone()));
            }
        }
    }
    out
}

/// Found by the API fuzzer: query structs (`IntoParams` read through `QueryParams`) were
/// documented as required *path* parameters, so clients were told to put `limit` in the
/// path and the fuzzer never sent it. A path parameter must be in the path template.
#[test]
fn path_parameters_are_in_the_path_and_query_parameters_are_optional_unless_said() {
    let doc = serde_json::to_value(crate::openapi()).unwrap();
    let mut wrong = Vec::new();
    for (path, method, op) in operations(&doc) {
        for p in op["parameters"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap();
            match p["in"].as_str().unwrap() {
                "path" if !path.contains(&format!("{{{name}}}")) => {
                    wrong.push(format!("{method} {path}: {name} is not in the path"));
                }
                // Required where the page means nothing without it: a connect session's
                // token, an OAuth state, a replay's time on its progress page.
                "query"
                    if p["required"] == true
                        && !["session", "state"].contains(&name)
                        && (path.as_str(), name) != ("/ui/events/replay/progress", "at") =>
                {
                    wrong.push(format!("{method} {path}: query {name} is required"));
                }
                _ => {}
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    let audit = &doc["paths"]["/api/audit"]["get"]["parameters"];
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "limit" && p["in"] == "query")
    );
}

/// Found by the API fuzzer: the errors that extractors return were missing from the
/// document (401 on keyed routes, 415 on routes with a body), and optional bodies were
/// documented as required, or as possibly `null` (which is refused).
#[test]
fn extractor_errors_and_optional_bodies_are_documented() {
    let doc = serde_json::to_value(crate::openapi()).unwrap();
    let mut wrong = Vec::new();
    for (path, method, op) in operations(&doc) {
        let statuses = op["responses"].as_object().unwrap();
        if op.get("security").is_some() && !statuses.contains_key("401") {
            wrong.push(format!("{method} {path}: keyed, no 401"));
        }
        if let Some(body) = op.get("requestBody") {
            let any_type = body["content"].get("*/*").is_some();
            if !statuses.contains_key("413") {
                wrong.push(format!("{method} {path}: a body, no 413"));
            }
            if statuses.contains_key("415") == any_type {
                wrong.push(format!(
                    "{method} {path}: 415 documented iff the type is checked"
                ));
            }
            if body.to_string().contains(r#""type":"null""#) {
                wrong.push(format!("{method} {path}: body may be null"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    for path in [
        "/api/destinations/{id}/disable",
        "/api/destinations/{id}/enable",
        "/api/events/{id}/replay",
    ] {
        let body = &doc["paths"][path]["post"]["requestBody"];
        assert!(body.is_object(), "{path} documents its optional body");
        assert_ne!(body["required"], true, "{path}: the body may be omitted");
    }
}

/// Found while typing the responses: `problem` of the audit verification was documented
/// as an object, but most breaks serialize as a string (`"hash_mismatch"`).
#[test]
fn audit_chain_breaks_are_documented_as_strings_or_objects() {
    let doc = serde_json::to_value(crate::openapi()).unwrap();
    let schema = doc["components"]["schemas"]["ChainBreak"].to_string();
    for needle in [
        "hash_mismatch",
        "prev_hash_mismatch",
        "head_mismatch",
        "expected",
        "head_seq",
    ] {
        assert!(schema.contains(needle), "{needle} in {schema}");
    }
    let text = serde_json::to_value(crate::routes::admin::ChainBreak::HashMismatch).unwrap();
    assert_eq!(text, "hash_mismatch");
    let gap = serde_json::to_value(crate::routes::admin::ChainBreak::Gap { expected: 3 }).unwrap();
    assert_eq!(gap, serde_json::json!({"gap": {"expected": 3}}));
}

/// The routes that answer HTML (the Connect page and its form, the OAuth callback's
/// result page) are in the document with their HTML answers.
#[test]
fn html_routes_are_documented() {
    let doc = serde_json::to_value(crate::openapi()).unwrap();
    for (path, method) in [
        ("/connect", "get"),
        ("/connect/{integration}", "post"),
        ("/api/integrations/{integration}/callback", "get"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        let ok = op["responses"]["200"].to_string();
        assert!(
            ok.contains("text/html"),
            "{method} {path}: 200 is documented as HTML: {ok}"
        );
    }
}
