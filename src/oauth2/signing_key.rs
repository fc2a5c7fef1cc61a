//! [`SigningKey`]: a private key that signs JWT assertions (`private_key_jwt` client
//! authentication and the JWT bearer grant, RFC 7523), read from PEM or from a JWK.
//!
//! Signing itself is `jsonwebtoken`'s (aws-lc-rs, the crypto rustls already uses). What is
//! here is the framing around it: PEM armour, the PKCS#8 wrapper (to tell an RSA key from an
//! EC or Ed25519 one before anything is signed, so that a key that does not fit its
//! algorithm is a clear [`KeyErrorKind::Mismatch`]), and the DER a private JWK becomes.
//! `jsonwebtoken`'s own PEM reader would add ten crates (`pem`, `simple_asn1`, `time`...) for
//! the same few lines.

use std::{fmt, sync::Arc};

use base64::Engine as _;
use jsonwebtoken::{EncodingKey, Header};
use secrecy::{ExposeSecret, zeroize::Zeroizing};
use serde::{Deserialize, Serialize};

use crate::{
    Secret,
    error::{Error, KeyErrorKind, Result},
};

/// A JWS signature algorithm for assertions signed with a private key (the `alg` the
/// authorization server has registered for the client: `token_endpoint_auth_signing_alg`).
#[allow(clippy::upper_case_acronyms)] // the JOSE names (RFC 7518), as registration pages show them
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwsAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256: an RSA key (2048 bits or more).
    RS256,
    /// RSASSA-PSS with SHA-256: an RSA key (FAPI 2.0 allows it, and ES256).
    PS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// EdDSA with an Ed25519 key.
    EdDSA,
}

impl JwsAlgorithm {
    /// The JOSE name (`"RS256"`, `"EdDSA"`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    pub(crate) fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::RS256 => jsonwebtoken::Algorithm::RS256,
            Self::PS256 => jsonwebtoken::Algorithm::PS256,
            Self::ES256 => jsonwebtoken::Algorithm::ES256,
            Self::ES384 => jsonwebtoken::Algorithm::ES384,
            Self::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        }
    }

    fn key_type(self) -> KeyType {
        match self {
            Self::RS256 | Self::PS256 => KeyType::Rsa,
            Self::ES256 => KeyType::P256,
            Self::ES384 => KeyType::P384,
            Self::EdDSA => KeyType::Ed25519,
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [
            Self::RS256,
            Self::PS256,
            Self::ES256,
            Self::ES384,
            Self::EdDSA,
        ]
        .into_iter()
        .find(|a| a.as_str() == name)
    }
}

impl fmt::Display for JwsAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyType {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyType {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::Rsa => "an RSA key (RS256 or PS256)",
            Self::P256 => "an EC P-256 key (ES256)",
            Self::P384 => "an EC P-384 key (ES384)",
            Self::Ed25519 => "an Ed25519 key (EdDSA)",
        }
    }
}

/// A private key that signs JWT assertions: the client's key for
/// [`ClientAuth::private_key_jwt`](crate::oauth2::ClientAuth::private_key_jwt), or a service
/// account's key for [`JwtBearer`](crate::oauth2::JwtBearer).
///
/// The key is a secret: it is zeroed when the last clone is dropped, and `Debug` shows only
/// the algorithm and the key id. Clones share it. Every way of reading one checks that the
/// key can sign with its algorithm (a key of the wrong type is [`KeyErrorKind::Mismatch`]),
/// so a bad key fails where it is loaded, not on the first token request; the error never
/// contains the key.
///
/// ```
/// use authed::oauth2::{JwsAlgorithm, SigningKey};
///
/// // openssl genpkey -algorithm ed25519
/// let pem = "-----BEGIN PRIVATE KEY-----\n\
///            MC4CAQAwBQYDK2VwBCIEIK0dOhcdSF8PHkdtMaQBsEP9jlN/AjYuY4EZlE+Be8Qm\n\
///            -----END PRIVATE KEY-----\n";
/// let key = SigningKey::from_pem(JwsAlgorithm::EdDSA, pem)?.kid("2026-01");
/// assert_eq!(key.key_id(), Some("2026-01"));
/// assert!(!format!("{key:?}").contains("MC4C"));
///
/// // The same key claimed to be an RSA key: a typed error, without the key in it.
/// let err = SigningKey::from_pem(JwsAlgorithm::RS256, pem).unwrap_err();
/// assert!(err.is_key());
/// # Ok::<(), authed::Error>(())
/// ```
#[derive(Clone)]
pub struct SigningKey {
    inner: Arc<KeyInner>,
}

#[derive(Clone)]
struct KeyInner {
    alg: JwsAlgorithm,
    kid: Option<String>,
    // `EncodingKey` zeroes its bytes on drop.
    key: EncodingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.inner.alg)
            .field("kid", &self.inner.kid)
            .field("key", &crate::redact::REDACTED)
            .finish()
    }
}

impl SigningKey {
    /// Reads a PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`, what `openssl genpkey` writes),
    /// PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`). Other blocks around
    /// it (`EC PARAMETERS`, a certificate) are skipped. Set the key id with
    /// [`SigningKey::kid`] when the server's JWKS has more than one key.
    ///
    /// # Errors
    ///
    /// [`Error::Key`]: [`KeyErrorKind::Malformed`] when there is no private key block or it
    /// does not decode, [`KeyErrorKind::Mismatch`] when the key is of another type than `alg`
    /// needs, [`KeyErrorKind::Unsupported`] for an encrypted key or an unknown key type.
    pub fn from_pem(alg: JwsAlgorithm, pem: impl Into<Secret>) -> Result<Self> {
        let pem = pem.into();
        let (found, der) = read_pem(alg, pem.expose_secret())?;
        Self::checked(alg, found, encoding_key(found, &der), None)
    }

    /// Reads a PEM private key from a file, with the checks of [`Secret::from_file`] (the
    /// file must not be readable by group or others on Unix).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the path when the file cannot be read (see
    /// [`Secret::from_file`]); [`Error::Key`] as for [`SigningKey::from_pem`].
    pub fn from_pem_file(alg: JwsAlgorithm, path: impl AsRef<std::path::Path>) -> Result<Self> {
        Self::from_pem(alg, Secret::from_file(path)?)
    }

    /// Reads a private JWK (RFC 7517): `kty` `RSA` (with `n`, `e`, `d`, `p`, `q`, `dp`, `dq`,
    /// `qi`), `EC` on `P-256` or `P-384` (`x`, `y`, `d`), or `OKP` on `Ed25519` (`d`). Its `kid`
    /// becomes the key id; its `alg`, if present, the algorithm (otherwise RS256, ES256,
    /// ES384 or EdDSA by key type).
    ///
    /// # Errors
    ///
    /// [`Error::Key`]: [`KeyErrorKind::Malformed`] for JSON that is not a private JWK (a
    /// public JWK has no `d`), [`KeyErrorKind::Unsupported`] for another key type or curve,
    /// [`KeyErrorKind::Mismatch`] when `alg` does not fit the key.
    pub fn from_jwk(jwk: impl Into<Secret>) -> Result<Self> {
        let jwk = jwk.into();
        let read = read_jwk(jwk.expose_secret())?;
        let alg = match read.alg {
            Some(alg) => alg,
            None => match read.found {
                KeyType::Rsa => JwsAlgorithm::RS256,
                KeyType::P256 => JwsAlgorithm::ES256,
                KeyType::P384 => JwsAlgorithm::ES384,
                KeyType::Ed25519 => JwsAlgorithm::EdDSA,
            },
        };
        Self::checked(
            alg,
            read.found,
            encoding_key(read.found, &read.der),
            read.kid,
        )
    }

    /// Sets the key id (`kid` in the JWS header), which tells the server which of the keys
    /// registered for the client to verify with.
    #[must_use]
    pub fn kid(self, kid: impl Into<String>) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        inner.kid = Some(kid.into());
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> JwsAlgorithm {
        self.inner.alg
    }

    /// The key id, if one was set.
    pub fn key_id(&self) -> Option<&str> {
        self.inner.kid.as_deref()
    }

    fn checked(
        alg: JwsAlgorithm,
        found: KeyType,
        key: EncodingKey,
        kid: Option<String>,
    ) -> Result<Self> {
        if found != alg.key_type() {
            return Err(mismatch(alg, found));
        }
        let key = Self {
            inner: Arc::new(KeyInner { alg, kid, key }),
        };
        // Sign once now: aws-lc parses the key here, so a broken key fails where it is loaded.
        key.sign(&serde_json::json!({"probe": true})).map_err(|_| {
            Error::key(
                KeyErrorKind::Malformed,
                format!(
                    "the key does not parse as {} (it may be truncated or corrupted)",
                    found.describe()
                ),
            )
        })?;
        Ok(key)
    }

    /// A key from a PKCS#8 `PrivateKeyInfo` (DER), checked as [`SigningKey::from_pem`] checks
    /// a PEM key (a DPoP key generated or read back from a store).
    pub(crate) fn from_pkcs8_der(alg: JwsAlgorithm, der: &[u8]) -> Result<Self> {
        let (found, der) = from_pkcs8(der)?;
        Self::checked(alg, found, encoding_key(found, &der), None)
    }

    /// A compact JWS of `claims`, with `alg` and `kid` in its header.
    pub(crate) fn sign(&self, claims: &impl Serialize) -> Result<String> {
        let mut header = Header::new(self.inner.alg.jwt());
        header.kid = self.inner.kid.clone();
        self.sign_with_header(&header, claims)
    }

    /// A compact JWS of `claims` under `header` (whose `alg` must be this key's): a DPoP proof
    /// sets `typ` and `jwk` as well.
    pub(crate) fn sign_with_header(
        &self,
        header: &Header,
        claims: &impl Serialize,
    ) -> Result<String> {
        jsonwebtoken::encode(header, claims, &self.inner.key).map_err(|e| {
            // jsonwebtoken's errors name the kind of failure, never the key.
            Error::key(
                KeyErrorKind::Malformed,
                format!("signing with the {} key failed: {e}", self.inner.alg),
            )
        })
    }
}

/// An HS256 JWS of `claims`, keyed with `secret` (`client_secret_jwt`).
pub(crate) fn sign_hs256(secret: &Secret, claims: &impl Serialize) -> Result<String> {
    let key = EncodingKey::from_secret(secret.expose_secret().as_bytes())
        .map_err(|_| Error::config("client_secret_jwt needs a client secret that is not empty"))?;
    jsonwebtoken::encode(&Header::new(jsonwebtoken::Algorithm::HS256), claims, &key)
        .map_err(|e| Error::config(format!("signing the HS256 client assertion failed: {e}")))
}

/// The `EncodingKey` of a key as the readers return it.
fn encoding_key(found: KeyType, der: &[u8]) -> EncodingKey {
    match found {
        KeyType::Rsa => EncodingKey::from_rsa_der(der),
        KeyType::P256 | KeyType::P384 => EncodingKey::from_ec_der(der),
        KeyType::Ed25519 => EncodingKey::from_ed_der(der),
    }
}

/// Reads the first PEM private key of `pem`: its type and DER, as aws-lc signs with it
/// (PKCS#1 for RSA, PKCS#8 for EC and Ed25519). A SEC1 EC key that names no curve is taken to
/// be on `alg`'s.
pub(crate) fn read_pem(alg: JwsAlgorithm, pem: &str) -> Result<(KeyType, Zeroizing<Vec<u8>>)> {
    let (label, der) = pem_private_key(pem)?;
    match label.as_str() {
        "PRIVATE KEY" => from_pkcs8(&der),
        "RSA PRIVATE KEY" => Ok((KeyType::Rsa, der)),
        "EC PRIVATE KEY" => {
            let curve = sec1_curve(&der)?.unwrap_or(alg.key_type());
            if !matches!(curve, KeyType::P256 | KeyType::P384) {
                return Err(mismatch(alg, curve));
            }
            Ok((curve, ec_pkcs8(curve, &der)))
        }
        "ENCRYPTED PRIVATE KEY" => Err(Error::key(
            KeyErrorKind::Unsupported,
            "the PEM key is encrypted; decrypt it first (openssl pkcs8 -in key.pem -out plain.pem) and keep the plain file 0600",
        )),
        other => Err(Error::key(
            KeyErrorKind::Unsupported,
            format!(
                "a PEM `{other}` block is not a key this client reads; use PKCS#8 (openssl pkcs8 -topk8 -nocrypt)"
            ),
        )),
    }
}

/// A private JWK as read: its type, its DER (as [`read_pem`] returns it), and its `alg` and
/// `kid` members.
pub(crate) struct ReadJwk {
    pub(crate) found: KeyType,
    pub(crate) der: Zeroizing<Vec<u8>>,
    pub(crate) alg: Option<JwsAlgorithm>,
    pub(crate) kid: Option<String>,
}

/// Reads a private JWK (see [`SigningKey::from_jwk`]).
pub(crate) fn read_jwk(text: &str) -> Result<ReadJwk> {
    let jwk: Jwk = serde_json::from_str(text).map_err(|e| {
        // serde_json's message names a position and the expected type, never the input.
        Error::key(
            KeyErrorKind::Malformed,
            format!(
                "the JWK is not a JSON object with string members (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    if jwk.kty == "oct" {
        return Err(Error::key(
            KeyErrorKind::Unsupported,
            "a symmetric (oct) JWK: use ClientAuth::client_secret_jwt with the client secret instead",
        ));
    }
    let d = jwk.member("d", &jwk.d)?;
    let (found, der) = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("RSA", _) => {
            let mut parts = Vec::new();
            parts.extend(der(0x02, &[0]));
            for (name, value) in [
                ("n", &jwk.n),
                ("e", &jwk.e),
                ("d", &jwk.d),
                ("p", &jwk.p),
                ("q", &jwk.q),
                ("dp", &jwk.dp),
                ("dq", &jwk.dq),
                ("qi", &jwk.qi),
            ] {
                parts.extend_from_slice(&der_uint(&jwk.member(name, value)?));
            }
            let pkcs1 = Zeroizing::new(der(0x30, &parts));
            secrecy::zeroize::Zeroize::zeroize(&mut parts);
            (KeyType::Rsa, pkcs1)
        }
        ("EC", Some(crv @ ("P-256" | "P-384"))) => {
            let curve = if crv == "P-256" {
                KeyType::P256
            } else {
                KeyType::P384
            };
            let mut point = vec![0x00, 0x04];
            point.extend_from_slice(&jwk.member("x", &jwk.x)?);
            point.extend_from_slice(&jwk.member("y", &jwk.y)?);
            let mut sec1 = Zeroizing::new(der(0x02, &[1]));
            sec1.extend(der(0x04, &d));
            sec1.extend(der(0xa1, &der(0x03, &point)));
            let sec1 = Zeroizing::new(der(0x30, &sec1));
            (curve, ec_pkcs8(curve, &sec1))
        }
        ("OKP", Some("Ed25519")) => {
            // CurvePrivateKey (an OCTET STRING) inside the PrivateKey OCTET STRING (RFC 8410 §7).
            let pkcs8 = Zeroizing::new(pkcs8(ED25519_ALG_ID, &der(0x04, &der(0x04, &d))));
            (KeyType::Ed25519, pkcs8)
        }
        (kty, crv) => {
            // The names are capped: they come from the input.
            let short = |s: &str| s.chars().take(16).collect::<String>();
            return Err(Error::key(
                KeyErrorKind::Unsupported,
                format!(
                    "JWK kty {:?}{} is not supported; use RSA, EC P-256/P-384 or OKP Ed25519",
                    short(kty),
                    crv.map(|c| format!(" crv {:?}", short(c)))
                        .unwrap_or_default()
                ),
            ));
        }
    };
    let alg = match jwk.alg.as_deref() {
        Some(name) => Some(JwsAlgorithm::parse(name).ok_or_else(|| {
            Error::key(
                KeyErrorKind::Unsupported,
                format!(
                    "the JWK's alg {:?} is not one of RS256, PS256, ES256, ES384, EdDSA",
                    name.chars().take(16).collect::<String>()
                ),
            )
        })?),
        None => None,
    };
    Ok(ReadJwk {
        found,
        der,
        alg,
        kid: jwk.kid.clone(),
    })
}

fn mismatch(alg: JwsAlgorithm, found: KeyType) -> Error {
    Error::key(
        KeyErrorKind::Mismatch,
        format!(
            "the key is {}, but the algorithm is {alg}, which needs {}",
            found.describe(),
            alg.key_type().describe()
        ),
    )
}

fn malformed(what: &str) -> Error {
    Error::key(KeyErrorKind::Malformed, what.to_owned())
}

/// The private JWK members this client reads. Dropping it zeroes the private ones.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    crv: Option<String>,
    alg: Option<String>,
    kid: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    d: Option<String>,
    p: Option<String>,
    q: Option<String>,
    dp: Option<String>,
    dq: Option<String>,
    qi: Option<String>,
}

impl Drop for Jwk {
    fn drop(&mut self) {
        use secrecy::zeroize::Zeroize as _;
        for member in [
            &mut self.d,
            &mut self.p,
            &mut self.q,
            &mut self.dp,
            &mut self.dq,
            &mut self.qi,
        ] {
            member.zeroize();
        }
    }
}

impl Jwk {
    /// The base64url-decoded member `name`.
    fn member(&self, name: &str, value: &Option<String>) -> Result<Zeroizing<Vec<u8>>> {
        let Some(value) = value else {
            let hint = if name == "d" {
                " (a public JWK: the private key is needed)"
            } else {
                ""
            };
            return Err(Error::key(
                KeyErrorKind::Malformed,
                format!("the JWK has no `{name}` member{hint}"),
            ));
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(value.trim_end_matches('='))
            .map(Zeroizing::new)
            .map_err(|_| {
                Error::key(
                    KeyErrorKind::Malformed,
                    format!("the JWK member `{name}` is not base64url"),
                )
            })
    }
}

/// The first PEM block whose label ends in `PRIVATE KEY`: its label and DER bytes.
fn pem_private_key(text: &str) -> Result<(String, Zeroizing<Vec<u8>>)> {
    let mut rest = text;
    let mut seen_public = false;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let label_end = after
            .find("-----")
            .ok_or_else(|| malformed("a PEM BEGIN line is not closed by -----"))?;
        let label = &after[..label_end];
        let body = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let end = body
            .find(&end_marker)
            .ok_or_else(|| malformed("a PEM block has no matching END line"))?;
        if label.ends_with("PRIVATE KEY") {
            let b64: Zeroizing<String> = Zeroizing::new(
                body[..end]
                    .chars()
                    .filter(|c| !c.is_ascii_whitespace())
                    .collect(),
            );
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|_| malformed("the PEM private key block is not valid base64"))?;
            return Ok((label.to_owned(), Zeroizing::new(der)));
        }
        seen_public |= label.contains("PUBLIC KEY") || label == "CERTIFICATE";
        rest = &body[end + end_marker.len()..];
    }
    Err(malformed(if seen_public {
        "the PEM has a public key or certificate but no private key; give the private key"
    } else {
        "no PEM private key block (-----BEGIN PRIVATE KEY-----) found"
    }))
}

// DER, just enough for the key wrappers: a TLV reader and writer.

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
/// `SEQUENCE { OID 1.3.101.112 }`: the AlgorithmIdentifier of Ed25519 (RFC 8410).
const ED25519_ALG_ID: &[u8] = &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];

/// One TLV: (tag, content, rest). `None` when the input is not DER.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        rest = &rest[n..];
        len
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// Reads a PKCS#8 PrivateKeyInfo: the key type and the DER aws-lc signs with (the PKCS#1
/// key inside for RSA, the document itself for the others).
fn from_pkcs8(der: &[u8]) -> Result<(KeyType, Zeroizing<Vec<u8>>)> {
    let bad = || malformed("the PKCS#8 private key does not decode (truncated or not DER)");
    let (0x30, info, _) = tlv(der).ok_or_else(bad)? else {
        return Err(bad());
    };
    let (0x02, _version, info) = tlv(info).ok_or_else(bad)? else {
        return Err(bad());
    };
    let (0x30, alg_id, info) = tlv(info).ok_or_else(bad)? else {
        return Err(bad());
    };
    let (0x06, oid, params) = tlv(alg_id).ok_or_else(bad)? else {
        return Err(bad());
    };
    let (0x04, private, _) = tlv(info).ok_or_else(bad)? else {
        return Err(bad());
    };
    if oid == OID_RSA {
        // aws-lc signs with the PKCS#1 RSAPrivateKey inside.
        Ok((KeyType::Rsa, Zeroizing::new(private.to_vec())))
    } else if oid == OID_EC {
        let curve = match tlv(params) {
            Some((0x06, c, _)) if c == OID_P256 => KeyType::P256,
            Some((0x06, c, _)) if c == OID_P384 => KeyType::P384,
            _ => {
                return Err(Error::key(
                    KeyErrorKind::Unsupported,
                    "the EC key is on a curve other than P-256 and P-384",
                ));
            }
        };
        Ok((curve, Zeroizing::new(der.to_vec())))
    } else if oid == OID_ED25519 {
        Ok((KeyType::Ed25519, Zeroizing::new(der.to_vec())))
    } else {
        Err(Error::key(
            KeyErrorKind::Unsupported,
            "the PKCS#8 key is not RSA, EC or Ed25519 (Ed448 and RSA-PSS-only keys are not supported)",
        ))
    }
}

/// The curve named inside a SEC1 ECPrivateKey (`[0]` parameters), if it names one.
fn sec1_curve(der: &[u8]) -> Result<Option<KeyType>> {
    let bad = || malformed("the EC private key does not decode (truncated or not DER)");
    let (0x30, mut body, _) = tlv(der).ok_or_else(bad)? else {
        return Err(bad());
    };
    while let Some((tag, content, rest)) = tlv(body) {
        if tag == 0xa0 {
            return Ok(match tlv(content) {
                Some((0x06, c, _)) if c == OID_P256 => Some(KeyType::P256),
                Some((0x06, c, _)) if c == OID_P384 => Some(KeyType::P384),
                _ => {
                    return Err(Error::key(
                        KeyErrorKind::Unsupported,
                        "the EC key is on a curve other than P-256 and P-384",
                    ));
                }
            });
        }
        body = rest;
    }
    Ok(None)
}

/// A DER TLV.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A DER INTEGER from unsigned big-endian bytes.
fn der_uint(bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    let trimmed = &bytes[bytes.iter().take_while(|&&b| b == 0).count()..];
    let mut content = Zeroizing::new(Vec::with_capacity(trimmed.len() + 1));
    if trimmed.first().is_none_or(|&b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    Zeroizing::new(der(0x02, &content))
}

/// PKCS#8 PrivateKeyInfo (version 0) of `alg_id` and the private key OCTET STRING.
fn pkcs8(alg_id: &[u8], private_octets: &[u8]) -> Vec<u8> {
    let mut body = der(0x02, &[0]);
    body.extend_from_slice(alg_id);
    body.extend_from_slice(private_octets);
    der(0x30, &body)
}

/// A SEC1 ECPrivateKey wrapped in PKCS#8, as aws-lc reads EC keys.
fn ec_pkcs8(curve: KeyType, sec1: &[u8]) -> Zeroizing<Vec<u8>> {
    let curve_oid = if curve == KeyType::P384 {
        OID_P384
    } else {
        OID_P256
    };
    let mut alg_id = der(0x06, OID_EC);
    alg_id.extend(der(0x06, curve_oid));
    Zeroizing::new(pkcs8(&der(0x30, &alg_id), &der(0x04, sec1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_round_trip() {
        for len in [0, 1, 127, 128, 255, 256, 70_000] {
            let content = vec![7u8; len];
            let encoded = der(0x04, &content);
            let (tag, got, rest) = tlv(&encoded).unwrap();
            assert_eq!((tag, got.len(), rest.len()), (0x04, len, 0));
        }
    }

    #[test]
    fn der_uint_keeps_the_sign_bit_clear() {
        assert_eq!(*der_uint(&[0x80]), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(*der_uint(&[0x00, 0x01]), vec![0x02, 0x01, 0x01]);
        assert_eq!(*der_uint(&[]), vec![0x02, 0x01, 0x00]);
    }

    #[test]
    fn truncated_der_is_an_error_not_a_panic() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2Vw\n-----END PRIVATE KEY-----\n";
        let err = SigningKey::from_pem(JwsAlgorithm::EdDSA, pem).unwrap_err();
        assert!(err.is_key(), "{err}");
    }
}
