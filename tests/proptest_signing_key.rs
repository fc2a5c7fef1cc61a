//! Property tests for the key readers (`SigningKey::from_pem`/`from_jwk`, and the same readers
//! behind `DpopKey::from_pem`/`from_jwk`): their hand-written DER reader (`tlv`, the PKCS#8
//! wrapper, the SEC1 curve) sees whatever a file or a secret store holds. Arbitrary bytes,
//! truncated keys and keys with bytes changed never panic: the answer is a key, or an
//! `Error::Key` whose text does not contain the input's base64.
//!
//! The valid keys mutated here are the test-only fixtures of `tests/oidc/keys/`, and the
//! PKCS#1 and SEC1 documents inside them (a SEC1 key with and without the curve named).

#![cfg(feature = "oauth2")]

use std::sync::LazyLock;

use authed::oauth2::{DpopKey, JwsAlgorithm, SigningKey};
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use proptest::prelude::*;

/// No regression files: other people work in `tests/` concurrently.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const ALGORITHMS: [JwsAlgorithm; 5] = [
    JwsAlgorithm::RS256,
    JwsAlgorithm::PS256,
    JwsAlgorithm::ES256,
    JwsAlgorithm::ES384,
    JwsAlgorithm::EdDSA,
];

const LABELS: [&str; 5] = [
    "PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
];

/// `der` as a PEM block, base64 in lines of 64 as openssl writes it.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).unwrap());
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

fn der_of(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(b64).unwrap()
}

/// A DER TLV of the fixtures (definite lengths, as DER has): (tag, content, rest).
fn tlv(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let (tag, first) = (input[0], input[1]);
    let (len, start) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        let len = input[2..2 + n]
            .iter()
            .fold(0, |acc, &b| (acc << 8) | usize::from(b));
        (len, 2 + n)
    };
    (tag, &input[start..start + len], &input[start + len..])
}

/// The offsets in `content` at which one of its elements ends.
fn element_ends(content: &[u8]) -> Vec<usize> {
    let mut ends = vec![];
    let mut rest = content;
    while !rest.is_empty() {
        rest = tlv(rest).2;
        ends.push(content.len() - rest.len());
    }
    ends
}

/// A DER TLV of `content`.
fn wrap(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// The private key document inside a PKCS#8 PrivateKeyInfo (PKCS#1 for RSA, SEC1 for EC).
fn inside_pkcs8(der: &[u8]) -> Vec<u8> {
    let (_, info, _) = tlv(der);
    let (_, _version, rest) = tlv(info);
    let (_, _algorithm, rest) = tlv(rest);
    let (tag, private, _) = tlv(rest);
    assert_eq!(tag, 0x04);
    private.to_vec()
}

/// A SEC1 ECPrivateKey with its `[0]` parameters naming P-256, inserted after the private key.
fn sec1_with_curve(sec1: &[u8]) -> Vec<u8> {
    const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let (_, body, _) = tlv(sec1);
    let (_, _, after_version) = tlv(body);
    let (_, _, after_key) = tlv(after_version);
    let head = &body[..body.len() - after_key.len()];
    let mut content = head.to_vec();
    content.extend(wrap(0xa0, &wrap(0x06, OID_P256)));
    content.extend_from_slice(after_key);
    wrap(0x30, &content)
}

/// A valid key: its PEM label, its algorithm, its DER.
struct Fixture {
    label: &'static str,
    alg: JwsAlgorithm,
    der: Vec<u8>,
}

static FIXTURES: LazyLock<Vec<Fixture>> = LazyLock::new(|| {
    let rsa = der_of(include_str!("oidc/keys/rs256.pem"));
    let ec = der_of(include_str!("oidc/keys/es256.pem"));
    let ed = der_of(include_str!("oidc/keys/ed25519.pem"));
    let sec1 = inside_pkcs8(&ec);
    let fixtures = vec![
        Fixture {
            label: "PRIVATE KEY",
            alg: JwsAlgorithm::RS256,
            der: rsa.clone(),
        },
        Fixture {
            label: "PRIVATE KEY",
            alg: JwsAlgorithm::ES256,
            der: ec,
        },
        Fixture {
            label: "PRIVATE KEY",
            alg: JwsAlgorithm::EdDSA,
            der: ed,
        },
        Fixture {
            label: "RSA PRIVATE KEY",
            alg: JwsAlgorithm::RS256,
            der: inside_pkcs8(&rsa),
        },
        Fixture {
            label: "EC PRIVATE KEY",
            alg: JwsAlgorithm::ES256,
            der: sec1_with_curve(&sec1),
        },
        Fixture {
            label: "EC PRIVATE KEY",
            alg: JwsAlgorithm::ES256,
            der: sec1,
        },
    ];
    for f in &fixtures {
        // The fixtures themselves read, or the properties below prove little.
        SigningKey::from_pem(f.alg, pem(f.label, &f.der))
            .unwrap_or_else(|e| panic!("fixture {} {}: {e}", f.label, f.alg));
    }
    fixtures
});

fn fixture() -> impl Strategy<Value = usize> {
    0..FIXTURES.len()
}

/// The base64 of the input that must not reach an error: the whole body and each of its
/// lines long enough not to turn up by chance.
fn secrets_of(pem: &str) -> Vec<String> {
    let lines: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut secrets = vec![lines.concat()];
    secrets.extend(lines.iter().map(|l| (*l).to_owned()));
    secrets.retain(|s| s.len() >= 16);
    secrets
}

/// A reader's answer: a key, or a key error that shows none of `secrets`. `must_fail` when
/// the input cannot be a key.
fn check<T>(
    result: authed::Result<T>,
    secrets: &[String],
    must_fail: bool,
) -> Result<(), TestCaseError> {
    match result {
        Ok(_) => prop_assert!(!must_fail, "a broken key was accepted"),
        Err(err) => {
            prop_assert!(err.is_key(), "not a key error: {err:?}");
            let shown = format!("{err} {err:?}");
            for secret in secrets {
                prop_assert!(!shown.contains(secret.as_str()), "{shown}");
            }
        }
    }
    Ok(())
}

/// Both PEM readers on one input.
fn check_pem(
    alg: JwsAlgorithm,
    pem: &str,
    must_fail: bool,
    dpop_must_fail: bool,
) -> Result<(), TestCaseError> {
    let secrets = secrets_of(pem);
    check(SigningKey::from_pem(alg, pem), &secrets, must_fail)?;
    check(DpopKey::from_pem(pem), &secrets, dpop_must_fail)
}

proptest! {
    #![proptest_config(config(256))]

    /// Bytes that are no key, under every label and algorithm.
    #[test]
    fn arbitrary_bytes_as_pem_are_a_key_error(
        label in prop::sample::select(&LABELS[..]),
        alg in prop::sample::select(&ALGORITHMS[..]),
        bytes in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        check_pem(alg, &pem(label, &bytes), true, true)?;
    }

    /// Bytes behind the DER of a real key's start: the reader goes deeper, and still
    /// refuses.
    #[test]
    fn arbitrary_bytes_after_a_real_header_are_a_key_error(
        i in fixture(),
        keep in 0usize..40,
        bytes in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let f = &FIXTURES[i];
        let mut der = f.der[..keep.min(f.der.len() - 1)].to_vec();
        der.extend(bytes);
        // Random bytes cannot complete a key whose private part they replace.
        let can_be_key = der.len() >= f.der.len();
        check_pem(f.alg, &pem(f.label, &der), !can_be_key, !can_be_key)?;
    }

    /// Any text at all, PEM armour or not.
    #[test]
    fn arbitrary_text_is_a_key_error(
        alg in prop::sample::select(&ALGORITHMS[..]),
        text in prop_oneof![
            any::<String>(),
            "(-----(BEGIN|END) [A-Z ]{0,24}-----\n?[A-Za-z0-9+/=\n]{0,80}){0,4}",
        ],
    ) {
        check_pem(alg, &text, true, true)?;
    }

    /// A key cut short, as a file truncated on disk: either the DER as it is, or with the
    /// outer length made to fit, so that the inner reader meets the cut.
    #[test]
    fn truncated_keys_are_a_key_error(
        i in fixture(),
        cut in any::<prop::sample::Index>(),
        refit in any::<bool>(),
    ) {
        let f = &FIXTURES[i];
        let (der, whole_elements) = if refit {
            let (tag, content, _) = tlv(&f.der);
            let cut = cut.index(content.len());
            (wrap(tag, &content[..cut]), element_ends(content).contains(&cut))
        } else {
            (f.der[..cut.index(f.der.len())].to_vec(), false)
        };
        // Cut between two elements, what is left may be a key without its optional tail (a
        // SEC1 key without `[1] publicKey` is one); cut anywhere else, it is not.
        check_pem(f.alg, &pem(f.label, &der), !whole_elements, !whole_elements)?;
    }

    /// A key with a few bytes changed (lengths, tags, OIDs, the key itself): read or
    /// refused, never a panic.
    #[test]
    fn mutated_keys_read_or_are_a_key_error(
        i in fixture(),
        alg in prop::option::of(prop::sample::select(&ALGORITHMS[..])),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..5),
    ) {
        let f = &FIXTURES[i];
        let mut der = f.der.clone();
        for (at, byte) in &edits {
            let at = at.index(der.len());
            der[at] = *byte;
        }
        check_pem(alg.unwrap_or(f.alg), &pem(f.label, &der), false, false)?;
    }

    /// A key with a byte inserted or removed: every length after it is off by one.
    #[test]
    fn keys_with_a_byte_inserted_or_removed_are_a_key_error(
        i in fixture(),
        at in any::<prop::sample::Index>(),
        insert in prop::option::of(any::<u8>()),
    ) {
        let f = &FIXTURES[i];
        let mut der = f.der.clone();
        let at = at.index(der.len());
        match insert {
            Some(byte) => der.insert(at, byte),
            None => {
                der.remove(at);
            }
        }
        check_pem(f.alg, &pem(f.label, &der), false, false)?;
    }
}

// --- JWK ---

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWK member's value: base64url of any bytes, or any text.
fn member() -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(
        0.8,
        prop_oneof![
            4 => prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| b64url(&b)),
            1 => any::<String>(),
        ],
    )
}

fn name_among(names: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(
        0.9,
        prop_oneof![
            4 => prop::sample::select(names).prop_map(str::to_owned),
            1 => any::<String>(),
        ],
    )
}

proptest! {
    #![proptest_config(config(256))]

    /// Any text as a JWK.
    #[test]
    fn arbitrary_text_as_a_jwk_is_a_key_error(text in any::<String>()) {
        check(SigningKey::from_jwk(text.as_str()), &[], true)?;
        check(DpopKey::from_jwk(text.as_str()), &[], true)?;
    }

    /// JWK objects with every member present or not, of any value: a key (random bytes can
    /// make an Ed25519 key) or a key error without the private members in it.
    #[test]
    fn jwks_of_any_members_read_or_are_a_key_error(
        kty in name_among(&["RSA", "EC", "OKP", "oct"]),
        crv in name_among(&["P-256", "P-384", "P-521", "Ed25519", "X25519"]),
        alg in name_among(&["RS256", "PS256", "ES256", "ES384", "EdDSA", "HS256", "none"]),
        members in prop::collection::vec(member(), 10),
        kid_is_number in any::<bool>(),
    ) {
        let mut jwk = serde_json::Map::new();
        for (name, value) in [("kty", kty), ("crv", crv), ("alg", alg)] {
            if let Some(value) = value {
                jwk.insert(name.into(), value.into());
            }
        }
        let names = ["d", "x", "y", "n", "e", "p", "q", "dp", "dq", "qi"];
        let mut secrets = vec![];
        for (name, value) in names.iter().zip(members) {
            if let Some(value) = value {
                if !matches!(*name, "x" | "y" | "n" | "e") && value.len() >= 16 {
                    secrets.push(value.clone());
                }
                jwk.insert((*name).into(), value.into());
            }
        }
        if kid_is_number {
            jwk.insert("kid".into(), 7.into());
        }
        let text = serde_json::Value::Object(jwk).to_string();
        check(SigningKey::from_jwk(text.as_str()), &secrets, false)?;
        check(DpopKey::from_jwk(text.as_str()), &secrets, false)?;
    }
}
