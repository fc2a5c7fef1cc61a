//! `authed request METHOD PATH_OR_URL [items]`: httpie's request items over an `authed::Client`
//! with the profile's credentials, retries and pacing.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use authed::{
    AuditEvent, Client,
    auth::ApiKey,
    http::{HeaderName, Method, StatusCode},
    redact::{CredentialNames, REDACTED},
};
use serde_json::{Map, Value};

use crate::{
    cmd::Global,
    config::Loaded,
    error::{CliError, Result, exit},
    session,
    ui::Style,
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

/// `authed request`.
pub async fn request(
    g: &Global,
    method: &str,
    target: &str,
    items: &[String],
    no_auth: bool,
) -> Result<i32> {
    let items = items
        .iter()
        .map(|i| parse_item(i))
        .collect::<Result<Vec<_>>>()?;
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| CliError::usage(format!("{method:?} is not an HTTP method")))?;
    let absolute = authed::url::Url::parse(target).ok();

    let loaded = Loaded::load()?;
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
    let mut builder = Client::builder(&base)
        .user_agent(concat!("authed-cli/", env!("CARGO_PKG_VERSION")))
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

    let mut request = client.request(method.clone(), target).any_status();
    let mut query = vec![];
    let mut fields = Map::new();
    let mut sent_headers = vec![];
    for item in items {
        match item {
            Item::Header(name, value) => {
                sent_headers.push((name.clone(), value.clone()));
                request = request.header(name, value);
            }
            Item::Query(k, v) => query.push((k, v)),
            Item::Field(k, v) => {
                fields.insert(k, Value::String(v));
            }
            Item::RawField(k, v) => {
                fields.insert(k, v);
            }
        }
    }
    if !query.is_empty() {
        request = request.query(&query);
    }
    if !fields.is_empty() {
        request = request.json(&Value::Object(fields));
    }

    let result = request.send().await;
    let event = audit.lock().unwrap_or_else(|e| e.into_inner()).take();
    let style = Style::stderr();
    let names = CredentialNames::builtin();
    if g.verbose {
        let url = event.as_ref().map_or(target.to_owned(), |e| e.url.clone());
        eprintln!("{}", style.dim(&format!("> {method} {url}")));
        for (name, value) in &sent_headers {
            let secret = HeaderName::try_from(name.as_str()).is_ok_and(|n| names.is_header(&n));
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
    let response = match result {
        Ok(response) => response,
        Err(e) => {
            let code = e.status().map_or(exit::FAILURE, exit_code);
            return Err(CliError {
                message: crate::error::describe(&e),
                code,
            });
        }
    };
    let status = response.status();
    let attempts = event.as_ref().map_or(1, |e| e.attempts);
    let line = format!(
        "{} {}{}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        if attempts > 1 {
            format!(" (after {attempts} attempts)")
        } else {
            String::new()
        }
    );
    let painted = match status.as_u16() {
        200..=299 => style.green(&line),
        400..=599 => style.red(&line),
        _ => style.yellow(&line),
    };
    eprintln!("{painted}");
    if g.verbose {
        for (name, value) in response.headers() {
            let shown = if names.is_header(name) {
                REDACTED.to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            eprintln!("{}", style.dim(&format!("< {name}: {shown}")));
        }
    }
    let body = response.bytes().await?;
    let mut out = std::io::stdout().lock();
    let written = match serde_json::from_slice::<Value>(&body) {
        Ok(json) if !body.is_empty() => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_else(|_| json.to_string())
        ),
        _ => out.write_all(&body),
    };
    written
        .and_then(|()| out.flush())
        .map_err(|e| CliError::new(format!("writing the body: {e}")))?;
    Ok(exit_code(status))
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
