//! `RequestBuilder::paginate`: `Link: rel="next"` listings through the whole pipeline.

use std::{
    future::poll_fn,
    pin::Pin,
    time::{Duration, Instant},
};

use authed::{Client, Pages, Secret, auth::Bearer};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path, query_param, query_param_is_missing},
};

async fn collect<T>(pages: &mut Pages<T>) -> (Vec<T>, Option<authed::Error>) {
    let mut items = Vec::new();
    while let Some(item) =
        poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *pages), cx)).await
    {
        match item {
            Ok(item) => items.push(item),
            Err(e) => return (items, Some(e)),
        }
    }
    (items, None)
}

fn page(items: &[u32], next: Option<&str>) -> ResponseTemplate {
    let mut response = ResponseTemplate::new(200).set_body_json(items);
    if let Some(next) = next {
        response = response.insert_header(
            "link",
            format!("<{next}>; rel=\"next\", <https://x.invalid/last>; rel=\"last\""),
        );
    }
    response
}

fn client(server: &MockServer) -> Client {
    Client::builder(server.uri())
        .auth(Bearer::new(Secret::from("page-token")))
        .build()
        .unwrap()
}

#[tokio::test]
async fn three_pages_one_of_them_throttled_are_read_in_order() {
    let api = MockServer::start().await;
    let auth = || header("authorization", "Bearer page-token");
    Mock::given(method("GET"))
        .and(path("/items"))
        .and(query_param_is_missing("page"))
        .and(auth())
        .respond_with(page(&[1, 2], Some(&format!("{}/items?page=2", api.uri()))))
        .mount(&api)
        .await;
    // Page 2 refuses once with a Retry-After, then answers with a relative next link.
    Mock::given(method("GET"))
        .and(path("/items"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .and(query_param("page", "2"))
        .and(auth())
        .respond_with(page(&[3, 4], Some("/items?page=3")))
        .with_priority(2)
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .and(query_param("page", "3"))
        .and(auth())
        .respond_with(page(&[5], None))
        .mount(&api)
        .await;

    let started = Instant::now();
    let mut pages = client(&api).get("items").paginate::<u32>();
    let (items, error) = tokio::time::timeout(Duration::from_secs(20), collect(&mut pages))
        .await
        .unwrap();
    assert!(error.is_none(), "{error:?}");
    assert_eq!(items, [1, 2, 3, 4, 5]);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the 429's Retry-After was obeyed"
    );
    let requests = api.received_requests().await.unwrap();
    let queries: Vec<_> = requests
        .iter()
        .map(|r| r.url.query().unwrap_or("").to_owned())
        .collect();
    assert_eq!(queries, ["", "page=2", "page=2", "page=3"]);
    assert!(
        requests
            .iter()
            .all(|r| r.headers.get("authorization").is_some())
    );
}

#[tokio::test]
async fn a_next_link_to_another_origin_ends_the_listing_without_credentials_leaving() {
    let api = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .respond_with(page(
            &[1],
            Some(&format!("{}/steal?page=2", elsewhere.uri())),
        ))
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .respond_with(page(&[99], None))
        .mount(&elsewhere)
        .await;

    let mut pages = client(&api).get("items").paginate::<u32>();
    let (items, error) = collect(&mut pages).await;
    assert_eq!(items, [1], "the first page's items are delivered");
    let error = error.expect("the foreign link is refused");
    assert!(matches!(error, authed::Error::InvalidUrl { .. }), "{error}");
    assert!(
        error.to_string().contains("127.0.0.1"),
        "names the origin: {error}"
    );
    assert!(!error.to_string().contains("page-token"));
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "nothing was sent there"
    );
}

#[tokio::test]
async fn a_next_link_back_to_a_page_already_read_stops() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .respond_with(page(&[7], Some("/items")))
        .mount(&api)
        .await;
    let mut pages = client(&api).get("items").paginate::<u32>();
    let (items, error) = tokio::time::timeout(Duration::from_secs(10), collect(&mut pages))
        .await
        .unwrap();
    assert_eq!(items, [7]);
    assert!(error.unwrap().to_string().contains("already read"));
    assert_eq!(api.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_page_that_does_not_decode_is_the_last_item() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("{\"not\":\"a list\"}")
                .insert_header("link", "</items?page=2>; rel=next"),
        )
        .mount(&api)
        .await;
    let mut pages = client(&api).get("items").paginate::<u32>();
    let (items, error) = collect(&mut pages).await;
    assert!(items.is_empty());
    assert!(error.unwrap().is_decode());
    assert_eq!(
        api.received_requests().await.unwrap().len(),
        1,
        "no next page after an error"
    );
}

#[tokio::test]
async fn response_next_link_reads_the_page_by_page_listing() {
    let api = MockServer::start().await;
    // Objects, not arrays: read page by page with `Response::next_link`.
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param_is_missing("page"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("{\"items\":[1]}")
                .insert_header("link", "</search?page=2>; rel=\"next\""),
        )
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param("page", "2"))
        .and(header("authorization", "Bearer page-token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("{\"items\":[2]}")
                .insert_header("link", "</search?page=1>; rel=\"prev\""),
        )
        .mount(&api)
        .await;
    let client = client(&api);
    let first = client.get("search").send().await.unwrap();
    let next = first.next_link().expect("a next link");
    assert_eq!(next.as_str(), format!("{}/search?page=2", api.uri()));
    let second = client.get(next.as_str()).send().await.unwrap();
    assert_eq!(second.next_link(), None, "prev is not next");
    let body: serde_json::Value = second.json().await.unwrap();
    assert_eq!(body["items"][0], 2);
}
