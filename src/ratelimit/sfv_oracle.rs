//! RFC 9651 as the oracle for the hand-written field splitter of `headers.rs` (tests only).
//!
//! The `sfv` crate (a dev-dependency) parses structured fields to the letter. On every
//! `RateLimit` / `RateLimit-Policy` value that it accepts as a List (drafts 8+ and the draft 6/7
//! policy) or a Dictionary (draft 7), [`parse_list`] must give the readers the same members,
//! keys and parameters, as the readers use them: a number, a duration or a text. On the sloppy
//! values real servers send, which `sfv` refuses as a whole, the readers must still get them.
//! Why the readers do not use `sfv` itself is in the module docs of `headers.rs`.

use std::time::Duration;

use base64::Engine as _;
use proptest::prelude::*;
use sfv::{BareItem, Dictionary, List, ListEntry, Parser};

use super::{Item, RateLimitState, is_draft7, parse_list, parse_seconds, parse_u64};

/// The parameters the readers ask for.
const READ_PARAMS: [&str; 5] = ["r", "t", "q", "w", "pk"];

/// How the readers see one value: as a count (`r`, `q`, `limit`), a duration (`t`, `w`,
/// `reset`) and, for the partition key, as bytes (a byte sequence decoded, any other text as
/// it is).
#[derive(Debug, PartialEq)]
struct Seen {
    count: Option<u64>,
    duration: Option<Duration>,
    bytes: Option<Vec<u8>>,
}

impl Seen {
    const NOTHING: Seen = Seen {
        count: None,
        duration: None,
        bytes: None,
    };

    /// `ours` (from [`seen_text`]) reads as `theirs` (from [`seen_bare`]): the same count and
    /// duration, and the same bytes where RFC 9651 has a text (a string, token or byte
    /// sequence; the partition key of a number or a date is its text as sent, `007` or `7`,
    /// stable either way).
    fn agrees(ours: &Seen, theirs: &Seen) -> bool {
        ours.count == theirs.count
            && ours.duration == theirs.duration
            && (theirs.bytes.is_none() || ours.bytes == theirs.bytes)
    }
}

/// The lenient base64 of RFC 9651 §4.2.7 (padding optional, trailing bits allowed), as `sfv`
/// decodes it.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// What the readers make of a text from [`parse_list`].
fn seen_text(text: &str) -> Seen {
    let bytes = match text.strip_prefix(':').and_then(|t| t.strip_suffix(':')) {
        Some(b64) if text.len() >= 2 => BASE64.decode(b64).ok(),
        _ => Some(text.as_bytes().to_vec()),
    };
    Seen {
        count: parse_u64(text),
        duration: parse_seconds(text),
        bytes,
    }
}

/// What the readers should make of a bare item that `sfv` parsed: a number's value (through
/// the readers' own conversions, from RFC 9651's canonical text), a text's content.
fn seen_bare(item: &BareItem) -> Seen {
    let number = |text: &str| Seen {
        bytes: None,
        ..seen_text(text)
    };
    match item {
        BareItem::Integer(n) => number(&i64::from(*n).to_string()),
        BareItem::Decimal(d) => number(&d.to_string()),
        BareItem::String(s) => seen_text(s.as_str()),
        BareItem::Token(t) => seen_text(t.as_str()),
        BareItem::ByteSequence(b) => Seen {
            bytes: Some(b.clone()),
            ..Seen::NOTHING
        },
        BareItem::Boolean(_) | BareItem::Date(_) | BareItem::DisplayString(_) => Seen::NOTHING,
    }
}

/// Asserts that `ours` reads as the `sfv` list member `theirs`.
fn same_member(ours: &Item<'_>, theirs: &ListEntry) -> Result<(), TestCaseError> {
    let ListEntry::Item(item) = theirs else {
        // An inner list: no RateLimit member, and nothing of it is read.
        prop_assert!(
            !ours.quoted && ours.params.is_empty(),
            "{ours:?} for {theirs:?}"
        );
        return Ok(());
    };
    match &item.bare_item {
        BareItem::String(s) => {
            prop_assert!(ours.quoted, "{ours:?} for {theirs:?}");
            prop_assert_eq!(&*ours.key, s.as_str());
        }
        BareItem::Token(t) => {
            prop_assert!(!ours.quoted, "{ours:?} for {theirs:?}");
            prop_assert_eq!(&*ours.key, t.as_str());
        }
        other => {
            prop_assert!(!ours.quoted, "{ours:?} for {theirs:?}");
            let (o, t) = (seen_text(&ours.key), seen_bare(other));
            prop_assert!(Seen::agrees(&o, &t), "{o:?} for {t:?} in {theirs:?}");
        }
    }
    for name in READ_PARAMS {
        // RFC 9651: a repeated parameter's last value wins (indexmap keeps it).
        let theirs_value = item
            .params
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v);
        match (ours.param(name).map(seen_text), theirs_value.map(seen_bare)) {
            (None, None) => {}
            (Some(o), Some(t)) => {
                prop_assert!(
                    Seen::agrees(&o, &t),
                    "{name}: ours {o:?}, sfv {t:?} in {theirs:?}"
                );
            }
            (o, t) => prop_assert!(false, "{name}: ours {o:?}, sfv {t:?} in {theirs:?}"),
        }
    }
    Ok(())
}

/// Asserts that [`parse_list`] reads `field` as `sfv` does, where `sfv` accepts it as a List;
/// returns whether it did.
fn check_list(field: &str) -> Result<bool, TestCaseError> {
    let Ok(theirs) = Parser::new(field).parse::<List>() else {
        return Ok(false);
    };
    let ours = parse_list(field.trim());
    // An empty field is an empty list to RFC 9651 and one empty member to us: nothing is read
    // from either.
    if theirs.is_empty() {
        prop_assert!(ours.iter().all(|i| i.key.is_empty() && i.params.is_empty()));
        return Ok(true);
    }
    prop_assert_eq!(ours.len(), theirs.len(), "{:?}: {:?}", field, ours);
    for (o, t) in ours.iter().zip(&theirs) {
        same_member(o, t)?;
    }
    Ok(true)
}

/// Asserts that where the reader takes `field` for a draft 7 dictionary, it reads it as `sfv`
/// reads it as a Dictionary (the last of a repeated key wins); returns whether both did.
fn check_dictionary(field: &str) -> Result<bool, TestCaseError> {
    let items = parse_list(field.trim());
    let Ok(theirs) = Parser::new(field).parse::<Dictionary>() else {
        return Ok(false);
    };
    if !is_draft7(&items) {
        return Ok(false);
    }
    let value = |key: &str| {
        theirs
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .and_then(|(_, entry)| match entry {
                ListEntry::Item(item) => Some(seen_bare(&item.bare_item)),
                ListEntry::InnerList(_) => None,
            })
    };
    let mut ours = RateLimitState::default();
    ours.read_ratelimit(&items);
    prop_assert_eq!(
        ours.limit,
        value("limit").and_then(|s| s.count),
        "{:?}",
        field
    );
    prop_assert_eq!(
        ours.remaining,
        value("remaining").and_then(|s| s.count),
        "{:?}",
        field
    );
    prop_assert_eq!(
        ours.reset,
        value("reset").and_then(|s| s.duration),
        "{:?}",
        field
    );
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// Generators: RFC 9651 text of every kind, with the optional whitespace it allows.
// ---------------------------------------------------------------------------------------------

fn sf_string() -> impl Strategy<Value = String> {
    "[ -~]{0,10}".prop_map(|s| {
        let escaped: String = s
            .chars()
            .flat_map(|c| match c {
                '"' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        format!("\"{escaped}\"")
    })
}

fn sf_integer() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..100_000).prop_map(|n| n.to_string()),
        (0u64..=999_999_999_999_999).prop_map(|n| n.to_string()),
        // Leading zeros are allowed.
        (0u64..1000).prop_map(|n| format!("00{n}")),
        (1i64..=999_999_999_999_999).prop_map(|n| format!("-{n}")),
    ]
}

fn sf_decimal() -> impl Strategy<Value = String> {
    (0u64..=999_999_999_999, "[0-9]{1,3}", any::<bool>()).prop_map(|(int, frac, negative)| {
        // No `-0.0`: RFC 9651 reads it as zero, we as a negative number (neither is a delay).
        let zero = int == 0 && frac.bytes().all(|b| b == b'0');
        let sign = if negative && !zero { "-" } else { "" };
        format!("{sign}{int}.{frac}")
    })
}

fn sf_bytes() -> impl Strategy<Value = String> {
    (prop::collection::vec(any::<u8>(), 0..12), any::<bool>()).prop_map(|(bytes, padded)| {
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        let b64 = if padded {
            &b64
        } else {
            b64.trim_end_matches('=')
        };
        format!(":{b64}:")
    })
}

fn sf_token() -> impl Strategy<Value = String> {
    "[a-zA-Z*][a-zA-Z0-9!#$%&'*+.^_`|~:/-]{0,8}"
}

fn bare_item() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => sf_integer(),
        2 => sf_decimal(),
        3 => sf_string(),
        2 => sf_token(),
        2 => sf_bytes(),
        1 => prop::sample::select(&["?0", "?1"][..]).prop_map(str::to_owned),
        1 => sf_integer().prop_map(|n| format!("@{n}")),
        1 => "[a-z %]{0,6}".prop_map(|s| format!("%\"{}\"", s.replace('%', "%25"))),
    ]
}

/// `;name=value` or a bare `;name`, after up to two spaces (RFC 9651 allows SP after `;`).
fn parameters() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        4 => prop::sample::select(&READ_PARAMS[..]).prop_map(str::to_owned),
        1 => "[a-z*][a-z0-9_.*-]{0,4}",
    ];
    let param = (0..3usize, name, prop::option::weighted(0.85, bare_item())).prop_map(
        |(sp, n, v)| match v {
            Some(v) => format!(";{}{n}={v}", " ".repeat(sp)),
            None => format!(";{}{n}", " ".repeat(sp)),
        },
    );
    prop::collection::vec(param, 0..5).prop_map(|p| p.concat())
}

fn inner_list() -> impl Strategy<Value = String> {
    prop::collection::vec((bare_item(), parameters()), 0..3).prop_map(|items| {
        let items: Vec<String> = items.into_iter().map(|(i, p)| i + &p).collect();
        format!("({})", items.join(" "))
    })
}

/// Members joined by `,` with optional whitespace around it, and spaces around the whole.
fn join(members: Vec<String>, gaps: Vec<(usize, usize)>) -> String {
    let ows = ["", " ", "\t", "  "];
    let mut out = " ".repeat(gaps.first().map_or(0, |g| g.0 % 2));
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            let (a, b) = gaps[i % gaps.len()];
            out.push_str(ows[a % ows.len()]);
            out.push(',');
            out.push_str(ows[b % ows.len()]);
        }
        out.push_str(m);
    }
    out
}

fn list_field() -> impl Strategy<Value = String> {
    let member = prop_oneof![
        8 => (bare_item(), parameters()).prop_map(|(i, p)| i + &p),
        1 => (inner_list(), parameters()).prop_map(|(i, p)| i + &p),
    ];
    (
        prop::collection::vec(member, 0..4),
        prop::collection::vec((0..4usize, 0..4usize), 1..4),
    )
        .prop_map(|(m, g)| join(m, g))
}

/// A draft 7 `RateLimit` dictionary; at least one member is `limit`, `remaining` or `reset`
/// with a value, which is how the reader tells draft 7 from a list.
fn dictionary_field() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        4 => prop::sample::select(&["limit", "remaining", "reset"][..]).prop_map(str::to_owned),
        1 => "[a-z*][a-z0-9_.*-]{0,4}",
    ];
    let value = prop_oneof![
        6 => bare_item().prop_map(Some),
        1 => inner_list().prop_map(Some),
        1 => Just(None),
    ];
    let member = (key, value, parameters()).prop_map(|(k, v, p)| match v {
        Some(v) => format!("{k}={v}{p}"),
        None => format!("{k}{p}"),
    });
    let first = (
        prop::sample::select(&["limit", "remaining", "reset"][..]),
        bare_item(),
    )
        .prop_map(|(k, v)| format!("{k}={v}"));
    (
        first,
        prop::collection::vec(member, 0..4),
        any::<prop::sample::Index>(),
        prop::collection::vec((0..4usize, 0..4usize), 1..4),
    )
        .prop_map(|(first, mut rest, at, gaps)| {
            let at = at.index(rest.len() + 1);
            rest.insert(at, first);
            join(rest, gaps)
        })
}

/// The grammar's pieces in any order: valid fields now and then, near misses the rest.
fn soup() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &[
        "limit",
        "remaining",
        "reset",
        "r",
        "t",
        "q",
        "w",
        "pk",
        "a",
        "=",
        "=",
        ";",
        ";",
        "; ",
        ",",
        ", ",
        " ",
        "\"a\"",
        "\"b,c;d\"",
        "\"\\\"\"",
        "5",
        "0",
        "-0",
        "-3",
        "1.5",
        "007",
        ":YQ==:",
        ":YQ:",
        "?1",
        "?0",
        "(",
        ")",
        "@1",
        "*",
        "%\"x\"",
        "R",
        "99999999999999999",
    ];
    prop::collection::vec(prop::sample::select(PIECES), 0..12).prop_map(|v| v.concat())
}

/// `field` has a number that is minus zero (`-0`, `-00.0`).
fn negative_zero(field: &str) -> bool {
    field.split('-').skip(1).any(|after| {
        let number: &str = &after[..after
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(after.len())];
        !number.is_empty() && number.bytes().all(|b| b == b'0' || b == b'.')
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every List that RFC 9651 accepts reads the same through `parse_list`.
    #[test]
    fn lists_read_as_rfc_9651_reads_them(field in list_field()) {
        // Generated by the grammar, so RFC 9651 must accept it: else the generator is wrong.
        prop_assert!(check_list(&field)?, "sfv refused {field:?}");
    }

    /// Every draft 7 Dictionary that RFC 9651 accepts gives the same limit, remaining and reset.
    #[test]
    fn dictionaries_read_as_rfc_9651_reads_them(field in dictionary_field()) {
        prop_assert!(check_dictionary(&field)?, "sfv refused {field:?}, or it is not draft 7 to us");
    }

    /// Soup of the grammar's pieces: where RFC 9651 accepts it, the same reading.
    #[test]
    fn soup_that_rfc_9651_accepts_reads_the_same(field in soup()) {
        // RFC 9651 reads `-0` as zero, the readers as a negative number: nothing (no server
        // sends it; the one difference on valid input, and a harmless one).
        prop_assume!(!negative_zero(&field));
        check_list(&field)?;
        check_dictionary(&field)?;
    }
}

/// The sloppy values that RFC 9651 refuses as a whole (so a strict parser would lose them) and
/// that the readers still read: whitespace before `;` and around `=`, upper-case parameter
/// names, integers longer than 15 digits, a trailing comma, a member that is not one.
#[test]
fn sloppy_fields_that_rfc_9651_refuses_are_still_read() {
    for (field, remaining) in [
        (r#""a" ;r=4;t=2"#, 4),
        (r#""a";r = 4;t=2"#, 4),
        (r#""a";R=4;T=2"#, 4),
        (r#""a";r=18446744073709551615;t=2"#, u64::MAX),
        (r#""a";r=4;t=2,"#, 4),
        (r#""a";r=4;t=2, !bad"#, 4),
    ] {
        assert!(
            Parser::new(field).parse::<List>().is_err(),
            "sfv accepts {field:?}"
        );
        let mut state = RateLimitState::default();
        state.read_ratelimit(&parse_list(field));
        assert_eq!(state.remaining, Some(remaining), "{field:?}");
        assert_eq!(state.reset, Some(Duration::from_secs(2)), "{field:?}");
    }
    for field in [
        "limit = 5, remaining=0, reset=2",
        "limit=5, remaining=0, reset=2,",
    ] {
        assert!(
            Parser::new(field).parse::<Dictionary>().is_err(),
            "{field:?}"
        );
        let mut state = RateLimitState::default();
        state.read_ratelimit(&parse_list(field));
        assert_eq!(
            (state.limit, state.remaining, state.reset),
            (Some(5), Some(0), Some(Duration::from_secs(2))),
            "{field:?}"
        );
    }
}

/// What express-rate-limit 8 sends (tests/limiters/README.md) is valid RFC 9651, `; ` included
/// (§4.2.3.2 skips spaces after `;`), and both parsers read it alike.
#[test]
fn express_rate_limit_fields_are_valid_rfc_9651() {
    for field in [
        r#""5-in-2sec"; r=4; t=2"#,
        r#""5-in-2sec"; q=5; w=2; pk=:MTJjYTE3YjQ5YWYy:"#,
        "5;w=2",
    ] {
        assert!(check_list(field).unwrap(), "sfv refused {field:?}");
    }
    assert!(check_dictionary("limit=5, remaining=4, reset=2").unwrap());
}
