//! Polls: the API's answers and refusals, the pages without JavaScript, live views of a poll
//! and of the list for several visitors, and the explorer (votes private, counts public, a
//! poll "as of" any event).

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::socket::{attribute, page};
use crate::support::{http, Client, TestServer};

const PASSWORD: &str = "test-admin";

/// A visitor: the session cookie of a first page load.
async fn visitor(server: &TestServer) -> String {
    page(server, "/polls", None).await.1
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

/// Asks `question` with `options` as `cookie`; returns the poll's id.
async fn ask(server: &TestServer, cookie: &str, question: &str, options: &[&str]) -> String {
    let body = json!({ "question": question, "options": options }).to_string();
    let (status, answer) = api(server, cookie, "POST", "/api/polls", Some(&body)).await;
    assert_eq!(status, 201, "{answer}");
    answer["poll"]["id"].as_str().unwrap().to_owned()
}

async fn vote(server: &TestServer, cookie: &str, id: &str, option: Value) -> (u16, Value) {
    let body = json!({ "option": option }).to_string();
    api(
        server,
        cookie,
        "POST",
        &format!("/api/polls/{id}/votes"),
        Some(&body),
    )
    .await
}

fn errors(field: &str, message: &str) -> Value {
    json!({ "errors": { field: [message] } })
}

#[tokio::test]
async fn the_api_asks_counts_moves_and_closes_with_every_refusal_said() {
    let server = TestServer::start().await;
    let ada = visitor(&server).await;
    let bob = visitor(&server).await;

    let body =
        json!({"question": "  Tabs or spaces? ", "options": ["Tabs", " ", "Spaces ", "Both"]});
    let (status, created) = api(&server, &ada, "POST", "/api/polls", Some(&body.to_string())).await;
    assert_eq!(status, 201, "{created}");
    let id = created["poll"]["id"].as_str().unwrap().to_owned();
    assert!(
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(created["poll"]["question"], "Tabs or spaces?");
    assert_eq!(
        created["poll"]["options"],
        json!(["Tabs", "Spaces", "Both"])
    );
    assert_eq!(created["poll"]["counts"], json!([0, 0, 0]));
    assert_eq!(
        (
            created["poll"]["total"].clone(),
            created["poll"]["closed"].clone()
        ),
        (json!(0), json!(false))
    );
    assert_eq!(created["your_vote"], Value::Null);
    assert!(
        !created.to_string().contains("creator"),
        "no creator in the API: {created}"
    );

    // Votes: each visitor once; a moved vote moves one count; the same vote changes nothing.
    let (status, answer) = vote(&server, &ada, &id, json!(0)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["poll"]["counts"], json!([1, 0, 0]));
    assert_eq!(answer["your_vote"], 0);
    let (_, answer) = vote(&server, &bob, &id, json!(0)).await;
    assert_eq!(
        (
            answer["poll"]["counts"].clone(),
            answer["poll"]["total"].clone()
        ),
        (json!([2, 0, 0]), json!(2))
    );
    let (_, answer) = vote(&server, &ada, &id, json!(2.0)).await;
    assert_eq!(
        answer["poll"]["counts"],
        json!([1, 0, 1]),
        "2.0 is option 2"
    );
    assert_eq!(answer["poll"]["total"], 2, "a moved vote is still one vote");
    assert_eq!(answer["your_vote"], 2);
    let (status, again) = vote(&server, &ada, &id, json!(2)).await;
    assert_eq!((status, &again["poll"]), (200, &answer["poll"]));
    let (status, shown) = api(&server, &bob, "GET", &format!("/api/polls/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (shown["poll"]["counts"].clone(), shown["your_vote"].clone()),
        (json!([1, 0, 1]), json!(0))
    );
    let (_, fresh) = server.get_json(&format!("/api/polls/{id}"), None).await;
    assert_eq!(
        fresh["your_vote"],
        Value::Null,
        "a new session has not voted"
    );

    // Refusals: rules broken (422, every one by field), unknown polls (404), bad bodies (400).
    let long_question = json!({"question": "q".repeat(201), "options": ["a", "b"]}).to_string();
    let cases = [
        (
            r#"{"question": " ", "options": ["only"]}"#.to_owned(),
            json!({"errors": {"question": ["can't be blank"], "options": ["give at least 2 options"]}}),
        ),
        (
            long_question,
            errors("question", "should be at most 200 characters"),
        ),
        (
            json!({"question": "Pick", "options": (0..11).map(|n| n.to_string()).collect::<Vec<_>>()})
                .to_string(),
            errors("options", "give at most 10 options"),
        ),
        (
            r#"{"question": "Pick", "options": ["Tabs", "tabs"]}"#.to_owned(),
            errors("options", "\"tabs\" is given twice"),
        ),
    ];
    for (body, expected) in cases {
        let answer = api(&server, &ada, "POST", "/api/polls", Some(&body)).await;
        assert_eq!(answer, (422, expected), "{body}");
    }
    for body in [
        "{{",
        r#"{"question": "Q"}"#,
        r#"{"question": 1, "options": ["a", "b"]}"#,
        r#"{"question": "Q", "options": ["a", 2]}"#,
        r#"["Q"]"#,
    ] {
        let (status, _) = api(&server, &ada, "POST", "/api/polls", Some(body)).await;
        assert_eq!(status, 400, "{body}");
    }
    assert_eq!(
        vote(&server, &ada, &id, json!(3)).await,
        (422, errors("option", "no such option"))
    );
    for bad in [json!(-1), json!(0.5), json!("1"), Value::Null] {
        let (status, _) = vote(&server, &ada, &id, bad.clone()).await;
        assert_eq!(status, 400, "{bad}");
    }
    for path in [
        "/api/polls/0123456789abcdef",
        "/api/polls/nope",
        "/api/polls/0123456789ABCDEF",
    ] {
        let answer = api(&server, &ada, "GET", path, None).await;
        assert_eq!(answer, (404, json!({"error": "no such poll"})), "{path}");
    }
    let unknown = vote(&server, &ada, "0123456789abcdef", json!(0)).await;
    assert_eq!(unknown, (404, json!({"error": "no such poll"})));

    // Only its creator closes it; then it counts no more votes and leaves the list.
    let other = ask(&server, &bob, "Cats or dogs?", &["Cats", "Dogs"]).await;
    let close = format!("/api/polls/{id}/close");
    assert_eq!(
        api(&server, &bob, "POST", &close, None).await,
        (
            403,
            json!({"error": "only the poll's creator can close it"})
        )
    );
    let (_, list) = server.get_json("/api/polls", None).await;
    let listed: Vec<&str> = list["polls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [other.as_str(), id.as_str()], "newest first");
    let (status, closed) = api(&server, &ada, "POST", &close, None).await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["poll"]["closed"], true);
    assert_eq!(closed["poll"]["counts"], json!([1, 0, 1]));
    let refused = errors("option", "this poll is closed; votes are no longer counted");
    assert_eq!(
        vote(&server, &bob, &id, json!(1)).await,
        (422, refused.clone())
    );
    assert_eq!(
        api(&server, &ada, "POST", &close, None).await,
        (422, refused)
    );
    let (_, list) = server.get_json("/api/polls", None).await;
    assert_eq!(list["polls"].as_array().unwrap().len(), 1);
    assert_eq!(list["polls"][0]["id"], other.as_str());
    let (status, still) = server.get_json(&format!("/api/polls/{id}"), None).await;
    assert_eq!(
        (status, still["poll"]["closed"].clone()),
        (200, json!(true))
    );
}

#[tokio::test]
async fn the_list_is_paged_newest_first() {
    let server = TestServer::start().await;
    let ada = visitor(&server).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(ask(&server, &ada, &format!("Question {n}?"), &["yes", "no"]).await);
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut path = "/api/polls?limit=2".to_owned();
    loop {
        let (status, page) = server.get_json(&path, None).await;
        assert_eq!(status, 200, "{page}");
        let polls = page["polls"].as_array().unwrap();
        assert!(polls.len() <= 2);
        seen.extend(polls.iter().map(|p| p["id"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(next) => path = format!("/api/polls?limit=2&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    for bad in [
        "/api/polls?limit=0",
        "/api/polls?limit=201",
        "/api/polls?before=x",
    ] {
        let (status, _) = server.get_json(bad, None).await;
        assert_eq!(status, 400, "{bad}");
    }
    let (status, empty) = server
        .get_json("/api/polls?before=0123456789abcdef", None)
        .await;
    assert_eq!(
        (status, empty),
        (200, json!({"polls": [], "next": null})),
        "nothing is older than an unknown poll"
    );
}

/// The CSRF token in a page's forms.
fn csrf(html: &str) -> String {
    attribute(
        &html[html.find("name=\"_csrf\"").expect("a form with _csrf")..],
        "value",
    )
}

/// Posts a plain form with the visitor's cookie; returns status, Location and body.
async fn post_form(
    server: &TestServer,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String, String) {
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
    (
        response.status().as_u16(),
        location,
        response.text().await.unwrap(),
    )
}

#[tokio::test]
async fn every_action_works_as_a_plain_form_post() {
    let server = TestServer::start().await;
    let (html, ada) = page(&server, "/polls", None).await;
    let token = csrf(&html);
    assert!(html.contains("<h1>Polls</h1>") && html.contains("data-cinder-validate"));

    // A refused poll: 422, each rule by its field, and what was typed kept.
    let (status, _, body) = post_form(
        &server,
        &ada,
        "/polls",
        &[
            ("_csrf", &token),
            ("question", "Pick <one>"),
            ("options", "Tabs\r\ntabs"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body.contains("&quot;tabs&quot; is given twice</p>"),
        "{body}"
    );
    assert!(body.contains(r#"value="Pick &lt;one&gt;""#), "{body}");
    assert!(body.contains("Tabs\r\ntabs</textarea>") || body.contains("Tabs\ntabs</textarea>"));

    // Asked: to the poll's page.
    let (status, location, _) = post_form(
        &server,
        &ada,
        "/polls",
        &[
            ("_csrf", &token),
            ("question", "Tabs or spaces?"),
            ("options", "Tabs\r\nSpaces\r\n\r\n"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let id = location.strip_prefix("/polls/").unwrap().to_owned();
    let poll_path = location.clone();
    let (html, _) = page(&server, &poll_path, Some(&ada)).await;
    assert!(html.contains("<h1>Tabs or spaces?</h1>"), "{html}");
    assert!(html.contains("Close poll"), "the creator can close it");
    assert_eq!(html.matches(r#"aria-pressed="false""#).count(), 2);
    let (list, _) = page(&server, "/polls", Some(&ada)).await;
    assert!(
        list.contains(&format!(r#"href="/polls/{id}">Tabs or spaces?</a>"#)),
        "{list}"
    );

    // Votes: back to the poll, the visitor's vote marked, counts and bars for all.
    let (html, bob) = page(&server, &poll_path, None).await;
    assert!(
        !html.contains("Close poll"),
        "only the creator can close it"
    );
    let bob_token = csrf(&html);
    let votes = format!("{poll_path}/votes");
    let (status, location, _) = post_form(
        &server,
        &bob,
        &votes,
        &[("_csrf", &bob_token), ("option", "1")],
    )
    .await;
    assert_eq!((status, location.as_str()), (303, poll_path.as_str()));
    let (html, _) = page(&server, &poll_path, Some(&bob)).await;
    assert!(html.contains("Your vote"), "{html}");
    assert_eq!(html.matches(r#"aria-pressed="true""#).count(), 1);
    assert!(
        html.contains(r#"<meter min="0" max="1" value="1""#),
        "{html}"
    );
    assert!(html.contains("1 vote · 100%"), "{html}");
    let (html, _) = page(&server, &poll_path, Some(&ada)).await;
    assert!(!html.contains("Your vote"), "Ada has not voted");
    assert!(html.contains("0 votes · 0%") && html.contains("1 vote · 100%"));

    // Refusals: no such option (422 by the form), someone else's poll (403), a forged token
    // (403), an unknown poll (404).
    let (status, _, body) = post_form(
        &server,
        &bob,
        &votes,
        &[("_csrf", &bob_token), ("option", "7")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains(">no such option</p>"), "{body}");
    let close = format!("{poll_path}/close");
    let (status, _, body) = post_form(&server, &bob, &close, &[("_csrf", &bob_token)]).await;
    assert_eq!(status, 403);
    assert!(
        body.contains("only the poll&#39;s creator can close it")
            || body.contains("only the poll's creator can close it"),
        "{body}"
    );
    let (status, _, _) =
        post_form(&server, &bob, &votes, &[("_csrf", &token), ("option", "0")]).await;
    assert_eq!(status, 403, "a token is its session's");
    let (status, _, _) = post_form(
        &server,
        &bob,
        "/polls/0123456789abcdef/votes",
        &[("_csrf", &bob_token), ("option", "0")],
    )
    .await;
    assert_eq!(status, 404);
    for path in ["/polls/0123456789abcdef", "/polls/nope"] {
        let response = http()
            .get(format!("{}{path}", server.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }

    // Closed by its creator: said on the page, no vote buttons, and votes refused in words.
    let (status, location, _) = post_form(&server, &ada, &close, &[("_csrf", &token)]).await;
    assert_eq!((status, location.as_str()), (303, poll_path.as_str()));
    let (html, _) = page(&server, &poll_path, Some(&bob)).await;
    assert!(html.contains("<strong>Closed.</strong>"), "{html}");
    assert!(
        !html.contains("aria-pressed"),
        "no vote buttons once closed"
    );
    assert!(html.contains("Your vote"), "Bob's vote is still his");
    let (status, _, body) = post_form(
        &server,
        &bob,
        &votes,
        &[("_csrf", &bob_token), ("option", "0")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("this poll is closed; votes are no longer counted"));
    let (list, _) = page(&server, "/polls", Some(&ada)).await;
    assert!(!list.contains(&id), "a closed poll leaves the list");

    for path in ["/polls", poll_path.as_str()] {
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
    (client, join_ref, topic)
}

/// Sends a page event; returns its reply and the ops of the patches that came before it (a
/// command's own patches do: the reply waits for read-your-writes).
async fn event(
    client: &mut Client,
    join_ref: &str,
    topic: &str,
    kind: &str,
    event: &str,
    value: Value,
) -> (Value, Vec<(String, String, String)>) {
    let payload = json!({"type": kind, "event": event, "value": value});
    let msg_ref = client.send(Some(join_ref), topic, "event", payload).await;
    let mut before = Vec::new();
    loop {
        let frame = client.next().await;
        if frame[3] == "phx_reply" && frame[1] == msg_ref.as_str() {
            return (frame[4].clone(), before);
        }
        if frame[3] == "patch" {
            before.extend(ops(&frame));
        }
    }
}

/// The ops of a patch frame: (op, id, html).
fn ops(frame: &Value) -> Vec<(String, String, String)> {
    frame[4]["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| {
            (
                op["op"].as_str().unwrap().to_owned(),
                op["id"].as_str().unwrap().to_owned(),
                op["html"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn html_of<'a>(ops: &'a [(String, String, String)], id: &str) -> &'a str {
    ops.iter()
        .find(|(_, op_id, _)| op_id == id)
        .map(|(_, _, html)| html.as_str())
        .unwrap_or_else(|| panic!("no op on #{id}: {ops:?}"))
}

/// Asserts nothing arrives on `client` for a while.
async fn silent(client: &mut Client, who: &str) {
    if let Ok(frame) = tokio::time::timeout(Duration::from_millis(600), client.ws.next()).await {
        panic!("{who} should hear nothing, got {frame:?}");
    }
}

#[tokio::test]
async fn every_viewer_sees_the_counts_live_and_only_the_voter_their_mark() {
    let server = TestServer::start().await;
    let ada = visitor(&server).await;
    let bob = visitor(&server).await;
    let (mut list, list_ref, list_topic) = tab(&server, &bob, "/polls").await;
    let (mut ada_list, _, _) = tab(&server, &ada, "/polls").await;

    // Asked from the list page: the reply flashes, and every list shows the poll on top.
    let (reply, own) = event(
        &mut list,
        &list_ref,
        &list_topic,
        "submit",
        "create_poll",
        json!({"question": "Lunch?", "options": "Pizza\nSushi\nSalad"}),
    )
    .await;
    assert_eq!(reply["status"], "ok", "{reply}");
    assert_eq!(reply["response"]["flash"], "Poll created");
    let (_, polls) = server.get_json("/api/polls", None).await;
    let id = polls["polls"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!((own[0].0.as_str(), own[0].1.as_str()), ("prepend", "polls"));
    assert!(own[0].2.contains(&format!(r#"id="poll-{id}""#)));
    let frame = ada_list.until(|f| f[3] == "patch").await;
    assert_eq!(ops(&frame), own, "the same patch for every list");

    let path = format!("/polls/{id}");
    let (mut ada_tab, ada_ref, topic) = tab(&server, &ada, &path).await;
    let (mut bob_tab, bob_ref, _) = tab(&server, &bob, &path).await;

    // Bob (who asked) votes: his counts and his mark come before his reply; Ada gets the same
    // counts, and no mark.
    let (reply, own) = event(
        &mut bob_tab,
        &bob_ref,
        &topic,
        "click",
        "vote",
        json!({"value": "1"}),
    )
    .await;
    assert_eq!(reply["status"], "ok", "{reply}");
    assert_eq!(reply["response"]["flash"], "Vote counted");
    assert!(
        html_of(&own, "result-1").contains("1 vote · 100%"),
        "{own:?}"
    );
    assert!(html_of(&own, "your-1").contains("Your vote"));
    assert!(html_of(&own, "vote-1").contains(r#"aria-pressed="true""#));
    let frame = ada_tab.until(|f| f[3] == "patch").await;
    let seen = ops(&frame);
    assert!(
        html_of(&seen, "result-1").contains("1 vote · 100%"),
        "{seen:?}"
    );
    assert!(html_of(&seen, "poll-status").contains("1 vote"));
    assert!(
        seen.iter().all(|(_, id, _)| !id.starts_with("your-")),
        "Ada's page does not mark Bob's vote: {seen:?}"
    );
    let frame = list.until(|f| f[3] == "patch").await;
    let seen = ops(&frame);
    assert_eq!(
        (seen[0].0.as_str(), seen[0].1.clone()),
        ("replace", format!("poll-{id}"))
    );
    assert!(
        seen[0].2.contains("leading: <strong>Sushi</strong>"),
        "{seen:?}"
    );

    // Ada votes for another option: both pages get the new counts; only hers her mark.
    let (reply, own) = event(
        &mut ada_tab,
        &ada_ref,
        &topic,
        "click",
        "vote",
        json!({"value": "0"}),
    )
    .await;
    assert_eq!(reply["status"], "ok", "{reply}");
    assert!(html_of(&own, "your-0").contains("Your vote"), "{own:?}");
    assert!(!html_of(&own, "your-1").contains("Your vote"));
    assert!(html_of(&own, "vote-0").contains(r#"aria-pressed="true""#));
    assert!(html_of(&own, "vote-1").contains(r#"aria-pressed="false""#));
    let frame = bob_tab.until(|f| f[3] == "patch").await;
    let seen = ops(&frame);
    assert!(
        html_of(&seen, "result-0").contains("1 vote · 50%"),
        "{seen:?}"
    );
    assert!(seen.iter().all(|(_, id, _)| !id.starts_with("your-")));

    // Ada cannot close Bob's poll; Bob can, and both pages say so and lose their buttons.
    let (reply, own) = event(
        &mut ada_tab,
        &ada_ref,
        &topic,
        "click",
        "close",
        json!({"value": ""}),
    )
    .await;
    assert_eq!(reply["status"], "error");
    assert_eq!(
        reply["response"]["message"],
        "only the poll's creator can close it"
    );
    assert!(own.is_empty());
    let (reply, _) = event(
        &mut bob_tab,
        &bob_ref,
        &topic,
        "click",
        "close",
        json!({"value": ""}),
    )
    .await;
    assert_eq!(reply["status"], "ok", "{reply}");
    assert_eq!(reply["response"]["flash"], "Poll closed");
    let frame = ada_tab.until(|f| f[3] == "patch").await;
    let seen = ops(&frame);
    assert!(
        html_of(&seen, "poll-status").contains("<strong>Closed.</strong>"),
        "{seen:?}"
    );
    assert!(!html_of(&seen, "vote-0").contains("button"), "{seen:?}");
    assert!(!html_of(&seen, "poll-close").contains("button"));
    let frame = list
        .until(|f| f[3] == "patch" && f[4]["ops"][0]["op"] == "remove")
        .await;
    assert_eq!(
        ops(&frame)[0].1,
        format!("poll-{id}"),
        "a closed poll leaves the list"
    );

    // A vote now is refused in words, and changes nothing anywhere.
    let (reply, own) = event(
        &mut ada_tab,
        &ada_ref,
        &topic,
        "click",
        "vote",
        json!({"value": "2"}),
    )
    .await;
    assert_eq!(reply["status"], "error");
    assert_eq!(
        reply["response"]["message"],
        "this poll is closed; votes are no longer counted"
    );
    assert!(own.is_empty());
    silent(&mut bob_tab, "Bob, after a refused vote").await;

    // A reload shows it all as it is: closed, and Ada's vote still hers.
    let (html, _) = page(&server, &path, Some(&ada)).await;
    assert!(html.contains("Your vote") && html.contains("<strong>Closed.</strong>"));
}

#[tokio::test]
async fn validation_as_you_type_uses_the_domains_rules() {
    let server = TestServer::start().await;
    let ada = visitor(&server).await;
    let (mut list, join_ref, topic) = tab(&server, &ada, "/polls").await;
    let (reply, _) = event(
        &mut list,
        &join_ref,
        &topic,
        "validate",
        "create_poll",
        json!({"question": "", "options": "One\none"}),
    )
    .await;
    assert_eq!(reply["status"], "ok", "{reply}");
    assert_eq!(
        reply["response"]["errors"],
        json!({"question": ["can't be blank"], "options": ["\"one\" is given twice"]})
    );
    let (reply, _) = event(
        &mut list,
        &join_ref,
        &topic,
        "validate",
        "create_poll",
        json!({"question": "Fine?", "options": "Yes\nNo"}),
    )
    .await;
    assert_eq!(reply["response"]["errors"], json!({}));
    let (_, polls) = server.get_json("/api/polls", None).await;
    assert_eq!(polls["polls"], json!([]), "validating asks nothing");
}

/// The poll's events as the explorer's API shows them to `cookie`'s visitor (or anyone), or to
/// the admin.
async fn history(server: &TestServer, id: &str, cookie: Option<&str>, admin: bool) -> Vec<Value> {
    let mut request = http().get(format!("{}/api/aggregates/Poll/{id}/events", server.url()));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    if admin {
        request = request.basic_auth("admin", Some(PASSWORD));
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_explorer_keeps_votes_private_and_shows_a_poll_as_of_any_event() {
    let server = TestServer::start_with(|c| c.admin_password = Some(PASSWORD.into())).await;
    let ada = visitor(&server).await;
    let bob = visitor(&server).await;
    let id = ask(&server, &ada, "Tea or coffee?", &["Tea", "Coffee"]).await;
    vote(&server, &ada, &id, json!(0)).await;
    vote(&server, &bob, &id, json!(1)).await;
    vote(&server, &bob, &id, json!(0)).await;

    let redacted = |event: &Value| event["payload"]["VoteCast"]["redacted"].is_string();

    // Anyone: the poll, no creator, and no vote whole.
    let events = history(&server, &id, None, false).await;
    assert_eq!(events.len(), 4);
    assert!(events[0]["payload"]["PollCreated"]["question"] == "Tea or coffee?");
    assert!(events[0]["payload"]["PollCreated"].get("creator").is_none());
    assert!(events[1..].iter().all(redacted), "{events:?}");
    assert!(!Value::Array(events.clone())
        .to_string()
        .contains("\"voter\""));

    // Ada: her poll's creator (herself) and her own vote, not Bob's.
    let events = history(&server, &id, Some(&ada), false).await;
    assert!(events[0]["payload"]["PollCreated"]["creator"].is_string());
    assert!(!redacted(&events[1]) && events[1]["payload"]["VoteCast"]["option"] == 0);
    assert!(redacted(&events[2]) && redacted(&events[3]));
    // Bob: his two votes, neither Ada's vote nor who asked.
    let events = history(&server, &id, Some(&bob), false).await;
    assert!(events[0]["payload"]["PollCreated"].get("creator").is_none());
    assert!(redacted(&events[1]));
    assert_eq!(events[3]["payload"]["VoteCast"]["previous"], 1);
    // The admin: everything.
    let events = history(&server, &id, None, true).await;
    assert!(events[1..].iter().all(|e| !redacted(e)));
    assert!(events[0]["payload"]["PollCreated"]["creator"].is_string());

    // "As of": the counts after each event, for anyone.
    let positions: Vec<i64> = events
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    let (history, _) = page(&server, &format!("/events/Poll/{id}"), None).await;
    assert_eq!(history.matches("as of this event").count(), 4, "{history}");
    let expected = [
        ["0 votes · 0%", "0 votes · 0%"],
        ["1 vote · 100%", "0 votes · 0%"],
        ["1 vote · 50%", "1 vote · 50%"],
        ["2 votes · 100%", "0 votes · 0%"],
    ];
    for (position, [tea, coffee]) in positions.iter().zip(expected) {
        let (html, _) = page(&server, &format!("/events/Poll/{id}/at/{position}"), None).await;
        let tea_at = html
            .find(tea)
            .unwrap_or_else(|| panic!("{tea} at {position}: {html}"));
        let coffee_at = html[tea_at + tea.len()..]
            .find(coffee)
            .unwrap_or_else(|| panic!("{coffee} after {tea} at {position}: {html}"));
        assert!(coffee_at > 0);
        assert!(html.contains("Tea or coffee?"));
    }
}

/// Polls brings its own styles (its result bars): every page links the apps' stylesheet, and
/// it holds Polls' rules after nothing but the shared one's.
#[tokio::test]
async fn every_page_links_the_apps_styles_which_hold_polls_own() {
    let server = TestServer::start().await;
    let (html, _) = page(&server, "/chat", None).await;
    assert!(html.contains(r#"<link rel="stylesheet" href="/assets/cinder.css">"#));
    assert!(html.contains(r#"<link rel="stylesheet" href="/assets/apps.css">"#));
    let response = http()
        .get(format!("{}/assets/apps.css", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/css; charset=utf-8"
    );
    let css = response.text().await.unwrap();
    assert!(css.contains("li.poll-option"), "{css}");
    let shared = http()
        .get(format!("{}/assets/cinder.css", server.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!shared.contains("poll"), "Polls' rules live with Polls");
}
