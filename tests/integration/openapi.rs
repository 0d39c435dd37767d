//! The OpenAPI document (`GET /api/openapi.json`): valid OpenAPI 3.1, and the router's API
//! exactly: every API route and method the router serves is described, and every described
//! operation is served. Then schemathesis drives every operation of a live node from it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use reqwest::Method;
use serde_json::Value;

use crate::processes::Node;
use crate::support::{http, TempDir, TestDb, TestServer};

/// The virtualenv `scripts/setup` makes, with schemathesis and openapi-spec-validator.
fn venv() -> PathBuf {
    std::env::var_os("CINDER_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/venv"))
}

fn venv_tool(name: &str) -> PathBuf {
    let tool = venv().join("bin").join(name);
    assert!(
        tool.exists(),
        "{} is missing: run scripts/setup (it makes the virtualenv)",
        tool.display()
    );
    tool
}

async fn document(url: &str) -> Value {
    let response = http()
        .get(format!("{url}/api/openapi.json"))
        .send()
        .await
        .expect("GET /api/openapi.json");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.expect("the document is JSON")
}

/// Whether `path` belongs to the API (and so to the document), rather than to the pages, the
/// assets or the socket, which browsers use.
fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || ["/healthz", "/readyz", "/metrics"].contains(&path)
}

/// The paths the router serves, read from its `Debug` form (axum lists its routes there).
fn routed_paths() -> BTreeSet<String> {
    let db = cinder::web::events::scratch_db().expect("a scratch database");
    let apps = cinder::web::Apps::open(cinder::web::APPS, &db).expect("the apps");
    let (router, _) = cinder::web::routes(&apps).split_for_parts();
    let debug = format!("{router:?}");
    let paths: BTreeSet<String> = debug
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with('/'))
        .map(str::to_owned)
        .collect();
    // The Debug form is axum's, not a promise: make sure it still lists the routes.
    for known in ["/chat", "/api/chat/rooms", "/healthz", "/socket/websocket"] {
        assert!(paths.contains(known), "{known} among the routes: {paths:?}");
    }
    paths
}

/// `path` with each `{param}` filled in with `x`.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => in_param = true,
            '}' => {
                in_param = false;
                out.push('x');
            }
            _ if in_param => {}
            c => out.push(c),
        }
    }
    out
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_describes_every_api_route() {
    let server = TestServer::start().await;
    let doc = document(&server.url()).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "{}",
        doc["openapi"]
    );

    let file = TempDir::new();
    let path = file.0.join("openapi.json");
    std::fs::write(&path, doc.to_string()).expect("write the document");
    let validated = std::process::Command::new(venv_tool("openapi-spec-validator"))
        .arg(&path)
        .output()
        .expect("openapi-spec-validator runs");
    assert!(
        validated.status.success(),
        "valid OpenAPI 3.1: {}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );

    let documented = doc["paths"].as_object().expect("paths");
    let routed = routed_paths();
    for path in routed.iter().filter(|p| is_api(p)) {
        assert!(
            documented.contains_key(path),
            "{path} is routed but not described"
        );
    }
    for path in documented.keys() {
        assert!(routed.contains(path), "{path} is described but not routed");
    }

    // Method by method: what is described is served, and what is served is described.
    let client = http();
    for (path, operations) in documented {
        let url = format!("{}{}", server.url(), concrete(path));
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let described = operations.get(method.as_str().to_lowercase()).is_some();
            let status = client
                .request(method.clone(), &url)
                .send()
                .await
                .expect("request")
                .status();
            if described {
                assert_ne!(status, 405, "{method} {path} is described but not served");
                assert!(
                    operations[method.as_str().to_lowercase()]["responses"]
                        .get(status.as_str())
                        .is_some(),
                    "{method} {path} answered {status}, which the document does not list"
                );
            } else {
                assert_eq!(status, 405, "{method} {path} is served but not described");
            }
        }
    }
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_off_the_document() {
    let schemathesis = venv_tool("schemathesis");
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let node = Node::start(&db.url, &dir.0).await;
    // A message, so that a room exists.
    let client = http();
    let sent = client
        .post(format!("{}/api/chat/rooms/lobby/messages", node.url()))
        .json(&serde_json::json!({"sender": "ada", "content": "hello"}))
        .send()
        .await
        .expect("send");
    assert_eq!(sent.status(), 201);
    // One session for the whole run, as a program keeps its cookie: the todo list it fills is
    // the one it reads.
    let session = client
        .get(format!("{}/api/todos", node.url()))
        .send()
        .await
        .expect("a session")
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let report = TempDir::new();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis.toml");
    let output = tokio::process::Command::new(schemathesis)
        .args(["--config-file", config])
        .arg("run")
        .arg(format!("{}/api/openapi.json", node.url()))
        .args(["--checks", "all"])
        .args(["--max-examples", "15"])
        .args(["--auth", "admin:test-admin"])
        .args(["--header", &format!("Cookie: {session}")])
        .args(["--seed", "18"])
        .args(["--request-timeout", "20"])
        .args(["--max-time", "150"])
        .arg("--no-color")
        .arg("--report-dir")
        .arg(&report.0)
        .current_dir(&report.0)
        .output()
        .await
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !stdout.contains("No operations"),
        "it tested operations:\n{stdout}"
    );
}
