//! Todos: the API's answers, the pages without JavaScript, live tabs of one session (and no
//! one else), and the explorer's "as of" for a list.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::socket::{attribute, page};
use crate::support::{http, Client, TestServer};

/// A visitor: the session cookie of a first page load.
async fn visitor(server: &TestServer) -> String {
    page(server, "/todos", None).await.1
}

/// Sends an API request with the visitor's cookie; returns status and body.
async fn api(
    server: &TestServer,
    cookie: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = http()
        .request(method, format!("{}{path}", server.url()))
        .header("cookie", cookie);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

fn titles(list: &Value) -> Vec<(u64, String, bool)> {
    list["todos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_u64().unwrap(),
                t["title"].as_str().unwrap().to_owned(),
                t["completed"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn todo(id: u64, title: &str, completed: bool) -> (u64, String, bool) {
    (id, title.to_owned(), completed)
}

#[tokio::test]
async fn the_api_answers_every_command_with_the_list() {
    let server = TestServer::start().await;
    let me = visitor(&server).await;
    let (status, empty) = api(&server, &me, "GET", "/api/todos", None).await;
    assert_eq!(
        (status, &empty),
        (200, &json!({"todos": [], "active": 0, "completed": 0}))
    );

    let (status, list) = api(
        &server,
        &me,
        "POST",
        "/api/todos",
        Some(r#"{"title": " milk "}"#),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(titles(&list), vec![todo(1, "milk", false)]);
    for title in ["eggs", "bread"] {
        let body = json!({ "title": title }).to_string();
        api(&server, &me, "POST", "/api/todos", Some(&body)).await;
    }
    let (status, list) = api(
        &server,
        &me,
        "PATCH",
        "/api/todos/2",
        Some(r#"{"completed": true}"#),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["active"], 2);
    assert_eq!(list["completed"], 1);
    let (_, list) = api(
        &server,
        &me,
        "PATCH",
        "/api/todos/1",
        Some(r#"{"title": "oat milk", "completed": true}"#),
    )
    .await;
    assert_eq!(
        titles(&list),
        vec![
            todo(1, "oat milk", true),
            todo(2, "eggs", true),
            todo(3, "bread", false)
        ]
    );

    // Rules broken: 422 with the field; an unknown or impossible id: 404; bad bodies: 400.
    let long = json!({ "title": "x".repeat(501) }).to_string();
    let refusals = [
        (
            "POST",
            "/api/todos",
            r#"{"title": "   "}"#,
            json!({"errors": {"title": ["a todo can't be empty"]}}),
        ),
        (
            "POST",
            "/api/todos",
            long.as_str(),
            json!({"errors": {"title": ["a todo can be at most 500 characters"]}}),
        ),
        (
            "PATCH",
            "/api/todos/1",
            long.as_str(),
            json!({"errors": {"title": ["a todo can be at most 500 characters"]}}),
        ),
    ];
    for (method, path, body, expected) in refusals {
        let answer = api(&server, &me, method, path, Some(body)).await;
        assert_eq!(answer, (422, expected), "{method} {path} {body}");
    }
    for (method, path, body) in [
        ("PATCH", "/api/todos/9", r#"{"completed": true}"#),
        ("PATCH", "/api/todos/nope", r#"{"completed": true}"#),
        ("DELETE", "/api/todos/9", ""),
        ("DELETE", "/api/todos/-1", ""),
    ] {
        let (status, body) = api(&server, &me, method, path, Some(body)).await;
        assert_eq!(
            (status, body),
            (404, json!({"error": "no such todo"})),
            "{method} {path}"
        );
    }
    for (method, path, body) in [
        ("POST", "/api/todos", "{{{"),
        ("POST", "/api/todos", r#"{"title": 5}"#),
        ("POST", "/api/todos", r#"{}"#),
        ("PATCH", "/api/todos/1", r#"{"completed": "yes"}"#),
        ("POST", "/api/todos/toggle-all", r#"{"completed": 1}"#),
    ] {
        let (status, _) = api(&server, &me, method, path, Some(body)).await;
        assert_eq!(status, 400, "{method} {path} {body}");
    }
    // An empty patch changes nothing, as a JSON merge patch `{}` does.
    let (status, unchanged) = api(&server, &me, "GET", "/api/todos", None).await;
    assert_eq!(status, 200);
    let first = unchanged["todos"][0]["id"].clone();
    let path = format!("/api/todos/{first}");
    assert_eq!(
        api(&server, &me, "PATCH", &path, Some("{}")).await,
        (200, unchanged)
    );
    let (status, _) = api(&server, &me, "PATCH", "/api/todos/999", Some("{}")).await;
    assert_eq!(status, 404, "an empty patch of a todo that is not there");

    // Toggle all (TodoMVC's rule, then an explicit state), clear completed, delete.
    let (_, list) = api(&server, &me, "POST", "/api/todos/toggle-all", None).await;
    assert_eq!(
        (list["active"].clone(), list["completed"].clone()),
        (json!(0), json!(3))
    );
    let (_, list) = api(&server, &me, "POST", "/api/todos/toggle-all", None).await;
    assert_eq!(list["completed"], 0);
    let body = r#"{"completed": true}"#;
    let (_, list) = api(&server, &me, "POST", "/api/todos/toggle-all", Some(body)).await;
    assert_eq!(list["completed"], 3);
    api(
        &server,
        &me,
        "PATCH",
        "/api/todos/3",
        Some(r#"{"completed": false}"#),
    )
    .await;
    let (status, list) = api(&server, &me, "POST", "/api/todos/clear-completed", None).await;
    assert_eq!(status, 200);
    assert_eq!(titles(&list), vec![todo(3, "bread", false)]);
    // Editing to empty deletes, as TodoMVC does; ids are never reused.
    let (_, list) = api(
        &server,
        &me,
        "PATCH",
        "/api/todos/3",
        Some(r#"{"title": " "}"#),
    )
    .await;
    assert_eq!(titles(&list), vec![]);
    let (_, list) = api(
        &server,
        &me,
        "POST",
        "/api/todos",
        Some(r#"{"title": "again"}"#),
    )
    .await;
    assert_eq!(titles(&list), vec![todo(4, "again", false)]);
    let (status, list) = api(&server, &me, "DELETE", "/api/todos/4", None).await;
    assert_eq!((status, titles(&list)), (200, vec![]));

    // Another visitor, or a program without a cookie, has a list of its own.
    api(
        &server,
        &me,
        "POST",
        "/api/todos",
        Some(r#"{"title": "mine"}"#),
    )
    .await;
    let other = visitor(&server).await;
    let (status, list) = api(&server, &other, "GET", "/api/todos", None).await;
    assert_eq!((status, titles(&list)), (200, vec![]));
    let (status, _) = api(&server, &other, "DELETE", "/api/todos/5", None).await;
    assert_eq!(status, 404, "another visitor cannot touch my todo 5");
    let fresh = http()
        .get(format!("{}/api/todos", server.url()))
        .send()
        .await
        .unwrap();
    assert!(fresh.headers().contains_key("set-cookie"));
    assert_eq!(titles(&fresh.json().await.unwrap()), vec![]);
    let (_, list) = api(&server, &me, "GET", "/api/todos", None).await;
    assert_eq!(titles(&list), vec![todo(5, "mine", false)]);
}

/// The CSRF token in a page's forms.
fn csrf(html: &str) -> String {
    attribute(
        &html[html.find("name=\"_csrf\"").expect("a form with _csrf")..],
        "value",
    )
}

/// Posts a plain form with the visitor's cookie; returns status and Location.
async fn post_form(
    server: &TestServer,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let response = http()
        .post(format!("{}{path}", server.url()))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status().as_u16(), location)
}

#[tokio::test]
async fn every_action_works_as_a_plain_form_post() {
    let server = TestServer::start().await;
    let (html, me) = page(&server, "/todos", None).await;
    let token = csrf(&html);
    assert!(
        html.contains("<footer class=\"footer\" id=\"todo-footer\" hidden>"),
        "no todos: no footer"
    );
    for title in ["milk", "eggs", "bread"] {
        let answer = post_form(
            &server,
            &me,
            "/todos",
            &[("_csrf", &token), ("back", "/todos"), ("title", title)],
        )
        .await;
        assert_eq!(answer, (303, "/todos".to_owned()));
    }
    let back = [("_csrf", token.as_str()), ("back", "/todos/active")];
    assert_eq!(
        post_form(&server, &me, "/todos/2/toggle", &back).await,
        (303, "/todos/active".into())
    );
    let rename = [
        ("_csrf", token.as_str()),
        ("back", "/todos/completed"),
        ("title", "brown eggs"),
    ];
    assert_eq!(
        post_form(&server, &me, "/todos/2/edit", &rename).await,
        (303, "/todos/completed".into())
    );

    let (html, _) = page(&server, "/todos", Some(&me)).await;
    assert!(html.contains("<strong>2</strong> items left"), "{html}");
    assert!(
        html.contains("Clear completed"),
        "shown once something is done"
    );
    assert!(html.contains(r#"<a href="/todos" class="selected" aria-current="page">All</a>"#));
    assert!(html.contains("brown eggs") && html.contains("milk") && html.contains("bread"));
    let (active, _) = page(&server, "/todos/active", Some(&me)).await;
    assert!(active.contains("milk") && !active.contains("brown eggs"));
    assert!(active
        .contains(r#"<a href="/todos/active" class="selected" aria-current="page">Active</a>"#));
    let (completed, _) = page(&server, "/todos/completed", Some(&me)).await;
    assert!(completed.contains("brown eggs") && !completed.contains("milk"));

    // Without JavaScript an edit is a page of its own, not live, with the field open.
    let (edit, _) = page(&server, "/todos/active?edit=1", Some(&me)).await;
    assert!(
        edit.contains(r#"<li class="todo editing" id="todo-1""#),
        "{edit}"
    );
    assert!(
        !edit.contains("data-cinder-token"),
        "the edit page is not live"
    );

    let back = [("_csrf", token.as_str()), ("back", "/todos")];
    assert_eq!(
        post_form(&server, &me, "/todos/toggle-all", &back).await.0,
        303
    );
    let (html, _) = page(&server, "/todos", Some(&me)).await;
    assert!(html.contains("<strong>0</strong> items left"));
    assert_eq!(
        post_form(&server, &me, "/todos/toggle-all", &back).await.0,
        303
    );
    assert_eq!(
        post_form(&server, &me, "/todos/3/toggle", &back).await.0,
        303
    );
    assert_eq!(
        post_form(&server, &me, "/todos/clear-completed", &back)
            .await
            .0,
        303
    );
    assert_eq!(
        post_form(&server, &me, "/todos/1/delete", &back).await.0,
        303
    );
    let (html, _) = page(&server, "/todos", Some(&me)).await;
    assert!(
        html.contains("<strong>1</strong> item left"),
        "singular: {html}"
    );
    assert!(
        !html.contains("Clear completed"),
        "nothing done: no clear completed"
    );
    assert!(html.contains("brown eggs") && !html.contains("bread"));

    // Refusals: a rule (422, said on the page), an unknown todo (404), no CSRF token (403).
    let blank = [
        ("_csrf", token.as_str()),
        ("back", "/todos"),
        ("title", "  "),
    ];
    let refused = http()
        .post(format!("{}/todos", server.url()))
        .header("cookie", &me)
        .form(&blank)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("be empty"));
    assert_eq!(
        post_form(&server, &me, "/todos/99/toggle", &back).await.0,
        404
    );
    assert_eq!(
        post_form(&server, &me, "/todos/x/delete", &back).await.0,
        404
    );
    let forged = [("_csrf", "forged"), ("back", "/todos"), ("title", "sneaky")];
    assert_eq!(post_form(&server, &me, "/todos", &forged).await.0, 403);
    let other = visitor(&server).await;
    let stolen = [
        ("_csrf", token.as_str()),
        ("back", "/todos"),
        ("title", "sneaky"),
    ];
    assert_eq!(
        post_form(&server, &other, "/todos", &stolen).await.0,
        403,
        "a token is its session's"
    );

    for path in ["/todos", "/todos/active", "/todos/completed"] {
        let response = http()
            .get(format!("{}{path}", server.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
}

/// A live view of `path` joined with the page token of `cookie` (a browser tab).
async fn tab(server: &TestServer, cookie: &str, path: &str) -> (Client, String, String) {
    let (html, _) = page(server, path, Some(cookie)).await;
    let token = attribute(&html, "data-cinder-token");
    let topic = format!("lv:{path}");
    let mut client = Client::connect(&server.ws_url()).await;
    let (join_ref, reply) = client.join(&topic, json!({ "token": token })).await;
    assert_eq!(reply["status"], "ok", "{reply}");
    let ids: Vec<_> = reply["response"]["patches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| op["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        vec!["toggle-all", "todo-list", "todo-footer"],
        "every region on join"
    );
    (client, join_ref, topic)
}

/// Asserts nothing arrives on `client` for a while.
async fn silent(client: &mut Client, who: &str) {
    if let Ok(frame) = tokio::time::timeout(Duration::from_millis(600), client.ws.next()).await {
        panic!("{who} should hear nothing, got {frame:?}");
    }
}

async fn push(
    client: &mut Client,
    join_ref: &str,
    topic: &str,
    event: &str,
    value: Value,
) -> Value {
    let payload = json!({"type": "submit", "event": event, "value": value});
    let msg_ref = client.send(Some(join_ref), topic, "event", payload).await;
    client.reply_to(&msg_ref).await
}

fn ops(frame: &Value) -> Vec<(String, String)> {
    frame[4]["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| {
            (
                op["op"].as_str().unwrap().to_owned(),
                op["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_tab_of_a_session_is_patched_and_no_one_else() {
    let server = TestServer::start().await;
    let me = visitor(&server).await;
    let stranger = visitor(&server).await;
    let (mut first, first_ref, topic) = tab(&server, &me, "/todos").await;
    let (mut second, _, _) = tab(&server, &me, "/todos").await;
    let (mut done_tab, _, _) = tab(&server, &me, "/todos/completed").await;
    let (mut theirs, _, _) = tab(&server, &stranger, "/todos").await;

    // The sender's own patch arrives before its reply (read-your-writes), and every other tab of
    // the session gets the same append; a view filtered to done todos only its footer.
    let msg_ref = first
        .send(
            Some(&first_ref),
            &topic,
            "event",
            json!({"type": "submit", "event": "add", "value": {"title": "<b>milk</b>"}}),
        )
        .await;
    let frame = first.next().await;
    assert_eq!(frame[3], "patch", "the patch comes first: {frame}");
    assert_eq!(first.reply_to(&msg_ref).await["status"], "ok");
    let frame = second.until(|f| f[3] == "patch").await;
    assert_eq!(
        ops(&frame),
        vec![
            ("append".into(), "todo-list".into()),
            ("replace".into(), "toggle-all".into()),
            ("replace".into(), "todo-footer".into())
        ]
    );
    let html = frame[4]["ops"][0]["html"].as_str().unwrap();
    assert!(
        html.contains("&lt;b&gt;milk&lt;/b&gt;") && html.contains(r#"id="todo-1""#),
        "{html}"
    );
    assert!(frame[4]["ops"][2]["html"]
        .as_str()
        .unwrap()
        .contains("<strong>1</strong> item left"));
    let frame = done_tab.until(|f| f[3] == "patch").await;
    assert_eq!(
        ops(&frame),
        vec![
            ("replace".into(), "toggle-all".into()),
            ("replace".into(), "todo-footer".into())
        ]
    );

    // Toggled: replaced where all are shown, added to the done view (sent whole, in order).
    let reply = push(
        &mut first,
        &first_ref,
        &topic,
        "toggle",
        json!({"value": "1"}),
    )
    .await;
    assert_eq!(reply["status"], "ok");
    let frame = second.until(|f| f[3] == "patch").await;
    assert_eq!(ops(&frame)[0], ("replace".into(), "todo-1".into()));
    assert!(frame[4]["ops"][0]["html"]
        .as_str()
        .unwrap()
        .contains(r#"class="todo completed""#));
    let frame = done_tab.until(|f| f[3] == "patch").await;
    assert_eq!(ops(&frame)[0], ("replace".into(), "todo-list".into()));
    assert!(frame[4]["ops"][0]["html"]
        .as_str()
        .unwrap()
        .contains("milk"));

    // Edited to empty: deleted everywhere.
    let reply = push(
        &mut first,
        &first_ref,
        &topic,
        "edit",
        json!({"id": "1", "title": " "}),
    )
    .await;
    assert_eq!(reply["status"], "ok");
    for tab in [&mut second, &mut done_tab] {
        let frame = tab.until(|f| f[3] == "patch").await;
        assert_eq!(ops(&frame)[0], ("remove".into(), "todo-1".into()));
    }

    // Refusals are error replies by field, and patch nothing.
    let reply = push(&mut first, &first_ref, &topic, "add", json!({"title": ""})).await;
    assert_eq!(reply["status"], "error");
    assert_eq!(
        reply["response"]["errors"]["title"][0],
        "a todo can't be empty"
    );
    let reply = push(
        &mut first,
        &first_ref,
        &topic,
        "delete",
        json!({"value": "1"}),
    )
    .await;
    assert_eq!(reply["response"]["errors"]["id"][0], "no such todo");

    // The other visitor heard nothing of it, and sees an empty list.
    silent(&mut theirs, "another visitor").await;
    let (html, _) = page(&server, "/todos", Some(&stranger)).await;
    assert!(!html.contains("milk"));
    // A rejoin (a reconnecting tab) re-sends the regions as they are now.
    let (_, reply) = tab_join_again(&server, &me).await;
    assert!(reply.contains("<strong>0</strong> items left"));
}

async fn tab_join_again(server: &TestServer, cookie: &str) -> (Client, String) {
    let (html, _) = page(server, "/todos", Some(cookie)).await;
    let token = attribute(&html, "data-cinder-token");
    let mut client = Client::connect(&server.ws_url()).await;
    let (_, reply) = client.join("lv:/todos", json!({ "token": token })).await;
    (client, reply.to_string())
}

#[tokio::test]
async fn the_explorer_shows_a_list_as_it_stood_after_any_event() {
    let server = TestServer::start().await;
    let me = visitor(&server).await;
    for title in ["first", "second", "third"] {
        let body = json!({ "title": title }).to_string();
        api(&server, &me, "POST", "/api/todos", Some(&body)).await;
    }
    api(
        &server,
        &me,
        "PATCH",
        "/api/todos/1",
        Some(r#"{"completed": true}"#),
    )
    .await;
    let (_, log) = api(&server, &me, "GET", "/api/events?after=0", None).await;
    let events = log["events"].as_array().unwrap();
    assert_eq!(events.len(), 4);
    assert!(events.iter().all(|e| e["aggregate_type"] == "TodoList"));
    let list = events[0]["aggregate_id"].as_str().unwrap();

    // The list is the visitor's own: they (not others, see `privacy.rs`) see it as it stood.
    let (history, _) = page(&server, &format!("/events/TodoList/{list}"), Some(&me)).await;
    assert_eq!(history.matches("as of this event").count(), 4);
    let second = events[1]["position"].as_i64().unwrap();
    let (as_of, _) = page(
        &server,
        &format!("/events/TodoList/{list}/at/{second}"),
        Some(&me),
    )
    .await;
    assert!(as_of.contains("first") && as_of.contains("second") && !as_of.contains("third"));
    assert!(as_of.contains("<strong>2</strong> items left"), "{as_of}");
    let last = events[3]["position"].as_i64().unwrap();
    let (as_of, _) = page(
        &server,
        &format!("/events/TodoList/{list}/at/{last}"),
        Some(&me),
    )
    .await;
    assert!(as_of.contains(r#"<li class="todo completed" id="todo-1">"#));
    assert!(as_of.contains("<strong>2</strong> items left"));
}
