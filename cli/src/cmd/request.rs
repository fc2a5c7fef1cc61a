//! `authed request METHOD PATH_OR_URL [items]`: httpie's request items over an `authed::Client`
//! with the profile's credentials, retries and pacing.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use authed::{
    AuditEvent, Client, Response,
    auth::ApiKey,
    http::{HeaderName, Method, StatusCode},
    redact::{CredentialNames, REDACTED},
};
use serde_json::{Map, Value};

use crate::{
    RequestArgs,
    cmd::Global,
    config::Loaded,
    error::{CliError, Result, exit},
    session,
    ui::{self, Style},
};

/// One request item, as httpie spells them.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `Header:value`.
    Header(String, String),
    /// `key==value`: a query parameter.
    Query(String, String),
    /// `key=value`: a JSON string field.
    Field(String, String),
    /// `key:=json`: a raw JSON field.
    RawField(String, Value),
}

/// Parses one item: the first separator from the left decides (`:=` before `:`, `==` before
/// `=` at the same place).
pub fn parse_item(text: &str) -> Result<Item> {
    let bad = |why: &str| {
        CliError::usage(format!(
            "request item {text:?}: {why} (expected Header:value, key==value, key=value or key:=json)"
        ))
    };
    for (i, c) in text.char_indices() {
        let rest = &text[i..];
        let (key, sep_len, kind) = match c {
            ':' if rest.starts_with(":=") => (&text[..i], 2, 'j'),
            ':' => (&text[..i], 1, 'h'),
            '=' if rest.starts_with("==") => (&text[..i], 2, 'q'),
            '=' => (&text[..i], 1, 'f'),
            _ => continue,
        };
        if key.is_empty() {
            return Err(bad("empty name"));
        }
        let value = &text[i + sep_len..];
        return Ok(match kind {
            'h' => Item::Header(key.to_owned(), value.trim_start().to_owned()),
            'q' => Item::Query(key.to_owned(), value.to_owned()),
            'f' => Item::Field(key.to_owned(), value.to_owned()),
            _ => Item::RawField(
                key.to_owned(),
                serde_json::from_str(value).map_err(|e| bad(&format!("not JSON: {e}")))?,
            ),
        });
    }
    Err(bad("no separator"))
}

/// The exit code for an answer's status: see `error::exit`.
pub fn exit_code(status: StatusCode) -> i32 {
    match status.as_u16() {
        200..=299 => exit::OK,
        300..=399 => exit::HTTP_3XX,
        400..=499 => exit::HTTP_4XX,
        500..=599 => exit::HTTP_5XX,
        _ => exit::FAILURE,
    }
}

/// Pages `--paginate` follows unless `--max-pages` says otherwise: enough for any listing
/// read by hand, and a bound for a server whose `next` links never end.
pub const DEFAULT_MAX_PAGES: u32 = 100;

/// `authed request`.
pub async fn request(g: &Global, args: &RequestArgs) -> Result<i32> {
    let target = args.url.as_str();
    let items = args
        .items
        .iter()
        .map(|i| parse_item(i))
        .collect::<Result<Vec<_>>>()?;
    let method = Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| CliError::usage(format!("{:?} is not an HTTP method", args.method)))?;
    if args.paginate && method != Method::GET {
        return Err(CliError::usage("--paginate follows listings: GET only"));
    }
    if args.paginate
        && items
            .iter()
            .any(|i| matches!(i, Item::Field(..) | Item::RawField(..)))
    {
        return Err(CliError::usage(
            "--paginate sends GETs: no body fields (key=value, key:=json)",
        ));
    }
    let absolute = authed::url::Url::parse(target).ok();
    if absolute
        .as_ref()
        .is_some_and(|u| !u.username().is_empty() || u.password().is_some())
    {
        // Not repeated: the URL carries a password.
        return Err(CliError::usage(
            "the URL carries a user name or password (user:password@): authed sends no \
             credentials in URLs (they end up in logs and shell history); give the URL without \
             them, and the credential through a profile (`authed login --with-token`)",
        ));
    }

    let loaded = Loaded::load()?;
    let no_auth = args.no_auth;
    let profile = if no_auth && g.profile.is_none() {
        loaded.resolve(None).ok()
    } else {
        Some(loaded.resolve(g.profile.as_deref())?)
    };
    let base = match (
        profile.as_ref().and_then(|(_, p)| p.base_url.clone()),
        &absolute,
    ) {
        (Some(base), _) => base,
        (None, Some(url)) if no_auth => url.origin().ascii_serialization(),
        (None, _) => {
            return Err(CliError::usage(match &profile {
                Some((name, _)) => format!(
                    "profile {name:?} has no base URL: credentials go only to the API it names \
                     (`authed profile add {name} --base-url URL --force ...`), or pass --no-auth"
                ),
                None => {
                    "a path needs a profile with a base URL; or give an absolute URL with --no-auth"
                        .to_owned()
                }
            }));
        }
    };

    let audit: Arc<Mutex<Option<AuditEvent>>> = Arc::default();
    let sink = audit.clone();
    let waits = ui::Waits::global();
    let mut builder = Client::builder(&base)
        .user_agent(session::USER_AGENT)
        .on_wait(waits.hook())
        .on_audit(move |event| {
            *sink.lock().unwrap_or_else(|e| e.into_inner()) = Some(event.clone())
        });
    if let (Some((name, p)), false) = (&profile, no_auth) {
        let auth = session::token_auth(name, p, &loaded);
        if let Some(header) = &p.api_key_header {
            let token = auth.token().await?;
            builder = builder.auth(ApiKey::header(header.clone(), token.access_token().clone()));
        } else if let Some(param) = &p.api_key_query {
            let token = auth.token().await?;
            builder = builder.auth(ApiKey::query(param.clone(), token.access_token().clone()));
        } else {
            builder = builder.auth(auth);
        }
    }
    let client = builder.build()?;

    let mut query = vec![];
    let mut fields = Map::new();
    let mut headers = vec![];
    for item in items {
        match item {
            Item::Header(name, value) => headers.push((name, value)),
            Item::Query(k, v) => query.push((k, v)),
            Item::Field(k, v) => {
                fields.insert(k, Value::String(v));
            }
            Item::RawField(k, v) => {
                fields.insert(k, v);
            }
        }
    }
    let with_headers = |mut request: authed::RequestBuilder| {
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        request.any_status()
    };
    let mut request = with_headers(client.request(method.clone(), target));
    if !query.is_empty() {
        request = request.query(&query);
    }
    if !fields.is_empty() {
        request = request.json(&Value::Object(fields));
    }
    let exchange = Exchange {
        g,
        audit: &audit,
        headers: &headers,
        style: Style::stderr(),
        names: CredentialNames::builtin(),
    };
    if !args.paginate {
        let response = exchange.send(request, &method, target, None).await?;
        let status = response.status();
        let body = response.bytes().await?;
        write_body(&body)?;
        return Ok(exit_code(status));
    }

    // --paginate: page after page, each through the whole pipeline (credentials, retries,
    // pacing), while the answer is a success and names a next page on this origin.
    let origin = client.base_url().origin();
    let mut pages: Vec<Value> = vec![];
    let mut visited = std::collections::HashSet::new();
    let mut request = Some(request);
    let mut end: Option<CliError> = None;
    let mut url = target.to_owned();
    while let Some(next) = request.take() {
        let page = pages.len() + 1;
        let response = match exchange.send(next, &method, &url, Some(page)).await {
            Ok(response) => response,
            Err(e) => {
                end = Some(e);
                break;
            }
        };
        if !response.status().is_success() {
            let code = exit_code(response.status());
            let e = response.error_for_status().await.err();
            end = Some(CliError {
                message: format!(
                    "page {page}: {}",
                    e.as_ref()
                        .map_or_else(|| "not a success".to_owned(), crate::error::describe)
                ),
                code,
            });
            break;
        }
        let link = response.next_link();
        let body = response.bytes().await?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(json) => pages.push(json),
            Err(e) => {
                end = Some(CliError::new(format!("page {page} is not JSON: {e}")));
                break;
            }
        }
        let Some(link) = link else { break };
        if pages.len() >= args.max_pages as usize {
            eprintln!(
                "{} stopped after {} pages; more remain (--max-pages)",
                exchange.style.yellow("!"),
                pages.len()
            );
            break;
        }
        if link.origin() != origin {
            end = Some(CliError::new(format!(
                "page {page}'s next link leads to {}, another origin than the API's: not followed",
                link.origin().ascii_serialization()
            )));
            break;
        }
        if !visited.insert(link.as_str().to_owned()) {
            end = Some(CliError::new(format!(
                "page {page}'s next link leads back to a page already read: stopped"
            )));
            break;
        }
        url = exchange.names.url(&link);
        request = Some(with_headers(client.get(link.as_str())));
    }
    print_pages(pages)?;
    match end {
        None => Ok(exit::OK),
        Some(e) => Err(e),
    }
}

/// One merged JSON array when every page is an array (the listings of GitHub and GitLab), so
/// that `jq` sees one list; else each page's JSON in turn (a JSON sequence).
fn print_pages(pages: Vec<Value>) -> Result<()> {
    let text = if pages.iter().all(Value::is_array) {
        let merged: Vec<Value> = pages
            .into_iter()
            .flat_map(|p| match p {
                Value::Array(items) => items,
                other => vec![other],
            })
            .collect();
        pretty(&Value::Array(merged))
    } else {
        pages.iter().map(pretty).collect::<Vec<_>>().join("\n")
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| CliError::new(format!("writing the pages: {e}")))
}

fn pretty(json: &Value) -> String {
    serde_json::to_string_pretty(json).unwrap_or_else(|_| json.to_string())
}

/// The body on stdout: JSON pretty-printed, anything else as it came.
fn write_body(body: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let written = match serde_json::from_slice::<Value>(body) {
        Ok(json) if !body.is_empty() => writeln!(out, "{}", pretty(&json)),
        _ => out.write_all(body),
    };
    written
        .and_then(|()| out.flush())
        .map_err(|e| CliError::new(format!("writing the body: {e}")))
}

/// What every exchange of one `authed request` shares: the audit sink that reports the URL
/// and attempts, the headers given on the command line (for `-v`), the styles.
struct Exchange<'a> {
    g: &'a Global,
    audit: &'a Mutex<Option<AuditEvent>>,
    headers: &'a [(String, String)],
    style: Style,
    names: CredentialNames,
}

impl Exchange<'_> {
    /// Sends one request; prints (on stderr) `-v`'s request lines, the status line (with the
    /// page number when paginating) and `-v`'s response headers. Any status is an answer.
    async fn send(
        &self,
        request: authed::RequestBuilder,
        method: &Method,
        shown_url: &str,
        page: Option<usize>,
    ) -> Result<Response> {
        let result = request.send().await;
        // The answer is here: the last wait's spinner (if any) goes.
        ui::Waits::global().clear();
        let event = self.audit.lock().unwrap_or_else(|e| e.into_inner()).take();
        let style = self.style;
        if self.g.verbose {
            let url = event
                .as_ref()
                .map_or_else(|| shown_url.to_owned(), |e| e.url.clone());
            eprintln!("{}", style.dim(&format!("> {method} {url}")));
            for (name, value) in self.headers {
                let secret =
                    HeaderName::try_from(name.as_str()).is_ok_and(|n| self.names.is_header(&n));
                let shown = if secret { REDACTED } else { value.as_str() };
                eprintln!("{}", style.dim(&format!("> {name}: {shown}")));
            }
            if let Some(e) = &event {
                eprintln!(
                    "{}",
                    style.dim(&format!(
                        "> (credentials: {}; values not shown)",
                        e.credential
                    ))
                );
            }
        }
        let response = result.map_err(|e| CliError {
            message: crate::error::describe(&e),
            code: e.status().map_or(exit::FAILURE, exit_code),
        })?;
        let status = response.status();
        let attempts = event.as_ref().map_or(1, |e| e.attempts);
        let mut notes = vec![];
        if let Some(page) = page {
            notes.push(format!("page {page}"));
        }
        if attempts > 1 {
            notes.push(format!("after {attempts} attempts"));
        }
        let line = format!(
            "{} {}{}",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join(", "))
            }
        );
        let painted = match status.as_u16() {
            200..=299 => style.green(&line),
            400..=599 => style.red(&line),
            _ => style.yellow(&line),
        };
        eprintln!("{painted}");
        if self.g.verbose {
            for (name, value) in response.headers() {
                let shown = if self.names.is_header(name) {
                    REDACTED.to_owned()
                } else {
                    String::from_utf8_lossy(value.as_bytes()).into_owned()
                };
                eprintln!("{}", style.dim(&format!("< {name}: {shown}")));
            }
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_split_at_their_first_separator() {
        let h = |a: &str, b: &str| Item::Header(a.into(), b.into());
        assert_eq!(parse_item("X-Trace:1").unwrap(), h("X-Trace", "1"));
        assert_eq!(parse_item("Accept: a:b").unwrap(), h("Accept", "a:b"));
        assert_eq!(
            parse_item("q==rust=fast").unwrap(),
            Item::Query("q".into(), "rust=fast".into())
        );
        assert_eq!(
            parse_item("name=a:b==c").unwrap(),
            Item::Field("name".into(), "a:b==c".into())
        );
        assert_eq!(
            parse_item("n:=[1,2]").unwrap(),
            Item::RawField("n".into(), serde_json::json!([1, 2]))
        );
        assert!(parse_item("n:={").is_err());
        assert!(parse_item("=x").is_err());
        assert!(parse_item("plain").is_err());
    }

    #[test]
    fn exit_codes_follow_the_status_class() {
        assert_eq!(exit_code(StatusCode::OK), 0);
        assert_eq!(exit_code(StatusCode::NOT_MODIFIED), 3);
        assert_eq!(exit_code(StatusCode::NOT_FOUND), 4);
        assert_eq!(exit_code(StatusCode::BAD_GATEWAY), 5);
    }
}
