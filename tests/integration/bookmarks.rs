//! Bookmarks: the API's exact answers, comments, live feeds, and privacy everywhere.

use std::time::Duration;

use serde_json::{json, Value};

use crate::socket::{attribute, page};
use crate::support::{http, Client, TestServer, MAX_REPLY_BYTES};

/// A visitor: the session cookie of a first page load.
async fn visitor(server: &TestServer) -> String {
    page(server, "/bookmarks", None).await.1
}

async fn create(server: &TestServer, cookie: &str, bookmark: Value) -> (u16, Value) {
    let response = http()
        .post(format!("{}/api/bookmarks", server.url()))
        .header("cookie", cookie)
        .json(&json!({ "bookmark": bookmark }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn creating_answers_exactly_as_specified() {
    let server = TestServer::start().await;
    let cookie = visitor(&server).await;
    let (status, body) = create(
        &server,
        &cookie,
        json!({"title": " Ripgrep ", "url": "https://example.com/rg", "description": "fast grep", "tags": "Rust, rust , CLI"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(body["bookmark"]["message"], "Bookmark created successfully");
    let data = &body["bookmark"]["data"];
    let mut keys: Vec<_> = data.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "description",
            "id",
            "inserted_at",
            "public",
            "tags",
            "title",
            "url"
        ]
    );
    assert_eq!(data["title"], "Ripgrep");
    assert_eq!(data["public"], true);
    assert_eq!(data["tags"], json!(["rust", "cli"]));

    let missing = http()
        .post(format!("{}/api/bookmarks", server.url()))
        .json(&json!({"title": "no wrapper"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        json!({"error": "Invalid parameters. Expected 'bookmark' object in request body"})
    );
    let garbage = http()
        .post(format!("{}/api/bookmarks", server.url()))
        .body("{{{")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);

    let cases = [
        (
            json!({"title": "", "url": "https://example.com"}),
            json!({"errors": {"title": ["can't be blank"]}}),
        ),
        (
            json!({"title": "t", "url": "example.com"}),
            json!({"errors": {"url": ["must start with http:// or https://"]}}),
        ),
        (
            json!({"title": "t", "url": "ftp://example.com"}),
            json!({"errors": {"url": ["must start with http:// or https://"]}}),
        ),
        (
            json!({"title": "t", "url": "https://"}),
            json!({"errors": {"url": ["must have a host"]}}),
        ),
        (
            json!({"title": "t", "url": "javascript:alert(1)"}),
            json!({"errors": {"url": ["must start with http:// or https://"]}}),
        ),
        (
            json!({"title": "x".repeat(201), "url": "https://e.com"}),
            json!({"errors": {"title": ["should be at most 200 characters"]}}),
        ),
        (
            json!({"title": "t", "url": "https://e.com", "description": "d".repeat(2001)}),
            json!({"errors": {"description": ["should be at most 2000 characters"]}}),
        ),
        (
            json!({"title": "t", "url": "https://e.com", "tags": ["has space"]}),
            json!({"errors": {"tags": ["\"has space\" may only use a-z, 0-9, +, #, . and -"]}}),
        ),
        (
            json!({"title": "t", "url": "https://e.com", "tags": (0..11).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            json!({"errors": {"tags": ["at most 10 tags"]}}),
        ),
        (
            json!({"title": "", "url": ""}),
            json!({"errors": {"title": ["can't be blank"], "url": ["can't be blank"]}}),
        ),
        (
            json!({"title": 5, "url": "https://e.com"}),
            json!({"errors": {"title": ["must be a string"]}}),
        ),
    ];
    for (bookmark, expected) in cases {
        let (status, body) = create(&server, &cookie, bookmark.clone()).await;
        assert_eq!((status, &body), (422, &expected), "{bookmark}");
    }
}

#[tokio::test]
async fn reading_lists_tags_pages_and_comments() {
    let server = TestServer::start().await;
    let cookie = visitor(&server).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let tags = if n % 2 == 0 { "even" } else { "odd" };
        let (_, body) = create(
            &server,
            &cookie,
            json!({"title": format!("b{n}"), "url": "https://e.com", "tags": tags}),
        )
        .await;
        ids.push(body["bookmark"]["data"]["id"].as_str().unwrap().to_owned());
    }
    let (_, all) = server.get_json("/api/bookmarks", None).await;
    let titles: Vec<_> = all["bookmarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["title"].clone())
        .collect();
    assert_eq!(titles, vec!["b4", "b3", "b2", "b1", "b0"], "newest first");
    let (_, even) = server
        .get_json("/api/bookmarks?tag=even&limit=2", None)
        .await;
    let titles: Vec<_> = even["bookmarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["title"].clone())
        .collect();
    assert_eq!(titles, vec!["b4", "b2"]);
    let (_, older) = server
        .get_json(&format!("/api/bookmarks?before={}", ids[2]), None)
        .await;
    assert_eq!(older["bookmarks"].as_array().unwrap().len(), 2);
    assert_eq!(server.get_json("/api/bookmarks?limit=0", None).await.0, 400);
    assert_eq!(
        server
            .get_json("/api/bookmarks?tag=Not%20A%20Tag", None)
            .await
            .0,
        400
    );
    let (status, random) = server.get_json("/api/bookmarks/random", None).await;
    assert_eq!(status, 200);
    assert!(ids.contains(&random["bookmark"]["id"].as_str().unwrap().to_owned()));

    let comment = http()
        .post(format!(
            "{}/api/bookmarks/{}/comments",
            server.url(),
            ids[0]
        ))
        .json(&json!({"author": "bob", "content": "useful"}))
        .send()
        .await
        .unwrap();
    assert_eq!(comment.status(), 201);
    assert_eq!(comment.json::<Value>().await.unwrap()["id"], 1);
    let refused = http()
        .post(format!(
            "{}/api/bookmarks/{}/comments",
            server.url(),
            ids[0]
        ))
        .json(&json!({"author": "bob", "content": " "}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({"errors": {"content": ["a comment can't be empty"]}})
    );
    let unknown = http()
        .post(format!("{}/api/bookmarks/nope/comments", server.url()))
        .json(&json!({"author": "bob", "content": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let (_, shown) = server
        .get_json(&format!("/api/bookmarks/{}", ids[0]), None)
        .await;
    assert_eq!(shown["bookmark"]["comments"][0]["content"], "useful");

    for path in [
        "/bookmarks",
        "/bookmarks/tags/even",
        "/bookmarks/random",
        &format!("/bookmarks/{}", ids[0]),
    ] {
        let response = http()
            .get(format!("{}{path}", server.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    assert_eq!(
        http()
            .get(format!("{}/bookmarks/nope", server.url()))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn a_private_bookmark_reaches_only_its_owner() {
    let server = TestServer::start().await;
    let owner = visitor(&server).await;
    let other = visitor(&server).await;
    assert_ne!(owner, other);

    // Outside programs and another visitor's live pages are watching before it is added.
    let mut firehose = Client::connect(&server.ws_url()).await;
    firehose.join("bookmarks:firehose", json!({})).await;
    let mut tag_feed = Client::connect(&server.ws_url()).await;
    tag_feed.join("bookmarks:tag:secret", json!({})).await;
    let (html, _) = page(&server, "/bookmarks", Some(&other)).await;
    let mut others_page = Client::connect(&server.ws_url()).await;
    others_page
        .join(
            "lv:/bookmarks",
            json!({"token": attribute(&html, "data-cinder-token")}),
        )
        .await;
    let (html, _) = page(&server, "/bookmarks", Some(&owner)).await;
    let mut owners_page = Client::connect(&server.ws_url()).await;
    owners_page
        .join(
            "lv:/bookmarks",
            json!({"token": attribute(&html, "data-cinder-token")}),
        )
        .await;

    let (status, body) = create(
        &server,
        &owner,
        json!({"title": "Secret plans", "url": "https://example.com/secret", "public": false, "tags": "secret"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(body["bookmark"]["data"]["public"], false);
    let id = body["bookmark"]["data"]["id"].as_str().unwrap().to_owned();

    // The owner's page gets it, in "yours".
    let patch = owners_page.until(|f| f[3] == "patch").await;
    assert_eq!(patch[4]["ops"][0]["id"], "my-bookmarks");
    assert!(patch[4]["ops"][0]["html"]
        .as_str()
        .unwrap()
        .contains("Secret plans"));

    // Then a public one: whoever follows public feeds gets that one first, never the secret.
    create(
        &server,
        &owner,
        json!({"title": "Open notes", "url": "https://example.com/open", "tags": "secret"}),
    )
    .await;
    for client in [&mut firehose, &mut tag_feed] {
        let push = client.until(|f| f[3] == "bookmark_created").await;
        assert_eq!(push[4]["title"], "Open notes");
    }
    let patch = others_page.until(|f| f[3] == "patch").await;
    let html = patch[4]["ops"].to_string();
    assert!(html.contains("Open notes") && !html.contains("Secret plans"));

    // Lists, tag feeds, random and pages.
    for path in ["/api/bookmarks", "/api/bookmarks?tag=secret"] {
        let (_, list) = server.get_json(path, Some(&owner)).await;
        assert!(!list.to_string().contains("Secret plans"), "{path}");
    }
    for _ in 0..30 {
        let (_, random) = server.get_json("/api/bookmarks/random", Some(&owner)).await;
        assert_eq!(random["bookmark"]["title"], "Open notes");
    }
    assert_eq!(
        server
            .get_json(&format!("/api/bookmarks/{id}"), Some(&other))
            .await
            .0,
        404
    );
    assert_eq!(
        server
            .get_json(&format!("/api/bookmarks/{id}"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        server
            .get_json(&format!("/api/bookmarks/{id}"), Some(&owner))
            .await
            .0,
        200
    );
    for path in [
        "/bookmarks".to_owned(),
        "/bookmarks/tags/secret".to_owned(),
        format!("/bookmarks/{id}"),
    ] {
        let (html, _) = page(&server, &path, Some(&other)).await;
        assert!(
            !html.contains("Secret plans"),
            "{path} leaks to another visitor"
        );
    }
    let (html, _) = page(&server, "/bookmarks", Some(&owner)).await;
    assert!(
        html.contains("Secret plans"),
        "the owner sees it on their page"
    );
    let (html, _) = page(&server, &format!("/bookmarks/{id}"), Some(&owner)).await;
    assert!(html.contains("Secret plans"));
    let (_, join) = firehose.join("bookmarks:tag:secret", json!({})).await;
    assert!(
        !join.to_string().contains("Secret plans"),
        "nor in join replies"
    );

    // The event explorer shows the log, but not what is private, nor whose anything is.
    let (_, events) = server
        .get_json("/api/events?after=0&limit=1000", None)
        .await;
    let text = events.to_string();
    assert!(
        text.contains("Open notes") && !text.contains("Secret plans"),
        "{text}"
    );
    assert!(!text.contains("\"owner\""), "owners are not shown");
    let (html, _) = page(&server, "/events", Some(&other)).await;
    assert!(!html.contains("Secret plans"));
    let (html, _) = page(&server, &format!("/events/Bookmark/{id}"), Some(&other)).await;
    assert!(!html.contains("Secret plans") && html.contains("a private bookmark"));
    let mut log = Client::connect(&server.ws_url()).await;
    log.join("events:all", json!({"after": 0})).await;
    let first = log.until(|f| f[3] == "event").await;
    assert!(!first.to_string().contains("Secret plans"));
    assert_eq!(
        first[4]["payload"]["BookmarkAdded"]["redacted"],
        "a private bookmark"
    );

    // Only the owner may discuss it.
    let stranger = http()
        .post(format!("{}/api/bookmarks/{id}/comments", server.url()))
        .header("cookie", &other)
        .json(&json!({"author": "eve", "content": "let me in"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 404);
    let (html, _) = page(&server, &format!("/bookmarks/{id}"), Some(&owner)).await;
    let token = attribute(&html, "data-cinder-token");
    let mut intruder = Client::connect(&server.ws_url()).await;
    let (_, reply) = intruder
        .join(
            &format!("lv:/bookmarks/{id}"),
            json!({"token": format!("{token}x")}),
        )
        .await;
    assert_eq!(reply["status"], "error");
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn a_discussion_is_live() {
    let server = TestServer::start().await;
    let cookie = visitor(&server).await;
    let (_, body) = create(
        &server,
        &cookie,
        json!({"title": "Talk", "url": "https://e.com"}),
    )
    .await;
    let id = body["bookmark"]["data"]["id"].as_str().unwrap().to_owned();
    let (html, _) = page(&server, &format!("/bookmarks/{id}"), Some(&cookie)).await;
    let token = attribute(&html, "data-cinder-token");
    let topic = format!("lv:/bookmarks/{id}");
    let mut client = Client::connect(&server.ws_url()).await;
    let (join_ref, reply) = client.join(&topic, json!({"token": token})).await;
    assert_eq!(reply["status"], "ok");
    let msg_ref = client
        .send(Some(&join_ref), &topic, "event", json!({"type": "submit", "event": "comment", "value": {"author": "ada", "content": "<i>first</i>"}}))
        .await;
    let patch = client.next().await;
    assert_eq!(patch[3], "patch");
    assert_eq!(patch[4]["ops"][0]["op"], "append");
    assert!(patch[4]["ops"][0]["html"]
        .as_str()
        .unwrap()
        .contains("&lt;i&gt;first&lt;/i&gt;"));
    assert_eq!(client.reply_to(&msg_ref).await["status"], "ok");
}

async fn comment(server: &TestServer, id: &str, author: &str, content: &str) -> (u16, Value) {
    let response = http()
        .post(format!("{}/api/bookmarks/{id}/comments", server.url()))
        .json(&json!({"author": author, "content": content}))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn an_author_may_comment_ten_times_a_minute_on_one_bookmark() {
    let server = TestServer::start().await;
    let cookie = visitor(&server).await;
    let (_, created) = create(
        &server,
        &cookie,
        json!({"title": "Busy", "url": "https://example.com/busy"}),
    )
    .await;
    let id = created["bookmark"]["data"]["id"].as_str().unwrap();
    for n in 0..10 {
        assert_eq!(comment(&server, id, "bob", &format!("n{n}")).await.0, 201);
    }
    let (status, refused) = comment(&server, id, "bob", "one more").await;
    assert_eq!(status, 422);
    assert_eq!(
        refused,
        json!({"errors": {"content": ["slow down: at most 10 comments a minute on one bookmark"]}})
    );
    assert_eq!(comment(&server, id, "carol", "hi").await.0, 201);
}

#[tokio::test]
async fn a_long_discussion_is_paged_within_the_reply_budget() {
    let server = TestServer::start().await;
    let cookie = visitor(&server).await;
    let (_, created) = create(
        &server,
        &cookie,
        json!({"title": "Talked about", "url": "https://example.com/t"}),
    )
    .await;
    let id = created["bookmark"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for n in 1..=120 {
        // 2,000 characters: half escape to six bytes in HTML (two in JSON), half are four.
        let content = format!("{n:04}{}{}", "\"".repeat(998), "😀".repeat(998));
        let (status, _) = comment(&server, &id, &format!("author-{n}"), &content).await;
        assert_eq!(status, 201);
    }
    // The API: the latest comments that fit, and `next_before` back to the first.
    let mut ids = Vec::new();
    let mut path = format!("/api/bookmarks/{id}?limit=500");
    let mut pages = 0;
    loop {
        pages += 1;
        let body: Value = serde_json::from_str(&server.get_within_budget(&path).await).unwrap();
        assert_eq!(body["bookmark"]["title"], "Talked about");
        let page: Vec<u64> = body["bookmark"]["comments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_u64().unwrap())
            .collect();
        ids.splice(0..0, page);
        match body["next_before"].as_u64() {
            Some(before) => path = format!("/api/bookmarks/{id}?limit=500&before={before}"),
            None => break,
        }
    }
    assert!(
        pages > 1,
        "120 of the largest comments do not fit in one reply"
    );
    assert_eq!(ids, (1..=120).collect::<Vec<_>>());

    // The page: the latest that fit, with "older comments" that work without JavaScript.
    let (html, _) = page(&server, &format!("/bookmarks/{id}"), None).await;
    assert!(html.len() <= MAX_REPLY_BYTES);
    assert!(html.contains("0120") && !html.contains("0001"));
    let oldest: u64 = attribute(&html, "name=\"before\" value").parse().unwrap();
    let (older, _) = page(&server, &format!("/bookmarks/{id}?before={oldest}"), None).await;
    assert!(older.contains(&format!("{:04}", oldest - 1)));

    // Live: the join reply is one page, and "older comments" prepends the next.
    let token = attribute(&html, "data-cinder-token");
    let topic = format!("lv:/bookmarks/{id}");
    let mut client = Client::connect(&server.ws_url()).await;
    let (join_ref, joined) = client.join(&topic, json!({"token": token})).await;
    assert!(joined.to_string().len() <= MAX_REPLY_BYTES);
    let event =
        json!({"type": "click", "event": "older_comments", "value": {"value": oldest.to_string()}});
    let asked = client.send(Some(&join_ref), &topic, "event", event).await;
    let reply = client.reply_to(&asked).await;
    assert_eq!(reply["status"], "ok");
    assert!(reply.to_string().len() <= MAX_REPLY_BYTES);
    let ops = &reply["response"]["patches"];
    assert_eq!(ops[0]["op"], "prepend");
    assert!(ops[0]["html"]
        .as_str()
        .unwrap()
        .contains(&format!("{:04}", oldest - 1)));
}

#[tokio::test]
async fn bookmark_lists_are_paged_within_the_reply_budget() {
    let server = TestServer::start().await;
    let cookie = visitor(&server).await;
    // Descriptions at their largest: 2,000 characters, half escaped to six bytes in HTML.
    let description = format!("{}{}", "\"".repeat(1000), "😀".repeat(1000));
    for n in 1..=90 {
        let (status, _) = create(
            &server,
            &cookie,
            json!({"title": format!("Bookmark {n:03}"), "url": format!("https://example.com/{n}"),
                   "description": description, "tags": ["big"]}),
        )
        .await;
        assert_eq!(status, 201);
    }
    for list in [
        "/api/bookmarks?limit=500",
        "/api/bookmarks?tag=big&limit=500",
    ] {
        let mut titles = Vec::new();
        let mut path = list.to_owned();
        let mut pages = 0;
        loop {
            pages += 1;
            let body: Value = serde_json::from_str(&server.get_within_budget(&path).await).unwrap();
            for bookmark in body["bookmarks"].as_array().unwrap() {
                titles.push(bookmark["title"].as_str().unwrap().to_owned());
            }
            match body["next_before"].as_str() {
                Some(before) => path = format!("{list}&before={before}"),
                None => break,
            }
        }
        assert!(
            pages > 1,
            "{list}: 90 of the largest bookmarks do not fit in one reply"
        );
        let expected: Vec<String> = (1..=90).rev().map(|n| format!("Bookmark {n:03}")).collect();
        assert_eq!(titles, expected, "{list}: newest first, each once");
    }
    // The pages fit, and link to older bookmarks without JavaScript (for a visitor who owns
    // none, so only the public list shows).
    let (_, stranger) = page(&server, "/bookmarks", None).await;
    for path in ["/bookmarks", "/bookmarks/tags/big"] {
        let (html, _) = page(&server, path, Some(&stranger)).await;
        assert!(
            html.len() <= MAX_REPLY_BYTES,
            "{path}: {} bytes",
            html.len()
        );
        let at = html.find("?before=").expect("a link to older bookmarks");
        let start = html[..at].rfind('"').unwrap() + 1;
        let href = html[start..at + html[at..].find('"').unwrap()].replace("&amp;", "&");
        let oldest_shown = (1..=90)
            .find(|n| html.contains(&format!("Bookmark {n:03}")))
            .unwrap();
        let (older, _) = page(&server, &href, Some(&stranger)).await;
        let next = format!("Bookmark {:03}", oldest_shown - 1);
        assert!(older.contains(&next), "{href} shows {next}");
        assert!(!older.contains("Bookmark 090"), "{href}");
    }
    let mut client = Client::connect(&server.ws_url()).await;
    let (_, joined) = client.join("bookmarks:firehose", json!({})).await;
    assert!(joined.to_string().len() <= MAX_REPLY_BYTES);
}
