//! DPoP (RFC 9449): tokens bound to a key the client holds, so that a stolen token is
//! useless without the key.
//!
//! - [`DpopKey`]: the client's key pair (ES256 by default, or EdDSA), generated once per
//!   session and kept with it: a DPoP-bound refresh token works only with the key it was
//!   issued to, so [`crate::store::CredentialTokenStore`] stores the key beside the tokens.
//!   A key kept elsewhere (a secret store, a file) is read with [`DpopKey::from_pem`] or
//!   [`DpopKey::from_jwk`].
//! - Every request to the token endpoint of an [`OAuthClient`](crate::oauth2::OAuthClient)
//!   given [`OAuthClient::dpop`](crate::oauth2::OAuthClient::dpop) carries a `DPoP` proof;
//!   the server answers `token_type: DPoP`. So do its pushed authorization requests
//!   (RFC 9449 §10.1), revocation and introspection requests, and its authorization
//!   requests carry the key's thumbprint as `dpop_jkt` (§10), binding the code to the key.
//! - Every request made with such a token carries `Authorization: DPoP <token>` and a proof
//!   of its own (method, URL without query and fragment, the hash of the token as `ath`),
//!   built anew for every attempt and every redirect hop, and only where the token may go.
//! - A server that asks for a nonce (`use_dpop_nonce` from the token endpoint, or a `401`
//!   with `WWW-Authenticate: DPoP error="use_dpop_nonce"` from a resource server) gets one
//!   retry with it; the latest nonce of each server is remembered for later proofs, and
//!   replaced by any new one the server sends, on a success too (§8.2).

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use http::Method;
use jsonwebtoken::{Header, jwk::Jwk};
use secrecy::{ExposeSecret, zeroize::Zeroizing};
use serde::Serialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::{
    Secret,
    error::{Error, KeyErrorKind, Result},
    oauth2::signing_key::{self, JwsAlgorithm, KeyType, SigningKey},
    redact::REDACTED,
};

/// The `typ` of a DPoP proof's JOSE header (RFC 9449 §4.2).
const PROOF_TYPE: &str = "dpop+jwt";

/// The header a proof travels in, and the one a server's nonce comes in.
pub(crate) const DPOP: http::HeaderName = http::HeaderName::from_static("dpop");
pub(crate) const DPOP_NONCE: http::HeaderName = http::HeaderName::from_static("dpop-nonce");

/// The error code of a server that wants a nonce in the proof (RFC 9449 §8, §9).
pub(crate) const USE_DPOP_NONCE: &str = "use_dpop_nonce";

/// A DPoP key pair: the private key signs the proofs, the public key travels in each proof's
/// `jwk` header and is what the server binds the tokens to (by its thumbprint, `jkt`).
///
/// The private key is a secret: it is zeroed when the last clone is dropped, `Debug` shows
/// only the algorithm and the thumbprint, and no error contains it. Clones share it.
///
/// ```
/// use authed::oauth2::{DpopKey, JwsAlgorithm, OAuthClient};
///
/// let key = DpopKey::generate()?; // ES256
/// assert_eq!(key.algorithm(), JwsAlgorithm::ES256);
/// let eddsa = DpopKey::generate_with(JwsAlgorithm::EdDSA)?;
/// assert_ne!(key.thumbprint(), eddsa.thumbprint());
///
/// // Every token request of this client carries a proof; its tokens are DPoP-bound.
/// let client = OAuthClient::new("https://auth.example.com/token", "my-cli").dpop(key);
/// # let _ = client;
/// # Ok::<(), authed::Error>(())
/// ```
#[derive(Clone)]
pub struct DpopKey {
    inner: Arc<KeyInner>,
}

struct KeyInner {
    alg: JwsAlgorithm,
    key: SigningKey,
    /// The PKCS#8 document, for the token store.
    pkcs8: Zeroizing<Vec<u8>>,
    /// The public key, as it goes into every proof's header.
    jwk: Jwk,
    /// The JWK SHA-256 thumbprint (RFC 7638), base64url: the `jkt` the server binds to.
    thumbprint: String,
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &self.inner.alg)
            .field("jkt", &self.inner.thumbprint)
            .field("private_key", &REDACTED)
            .finish()
    }
}

#[derive(Serialize)]
struct ProofClaims<'a> {
    jti: String,
    htm: &'a str,
    htu: &'a str,
    iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ath: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
}

impl DpopKey {
    /// A new ES256 (ECDSA P-256) key pair, the algorithm every DPoP server supports.
    ///
    /// # Errors
    ///
    /// [`Error::Key`] if the system's random generator fails.
    pub fn generate() -> Result<Self> {
        Self::generate_with(JwsAlgorithm::ES256)
    }

    /// A new key pair for `alg`: [`JwsAlgorithm::ES256`] or [`JwsAlgorithm::EdDSA`] (check
    /// the server's `dpop_signing_alg_values_supported`).
    ///
    /// # Errors
    ///
    /// [`Error::Key`] ([`KeyErrorKind::Unsupported`]) for another algorithm; if the system's
    /// random generator fails.
    pub fn generate_with(alg: JwsAlgorithm) -> Result<Self> {
        use aws_lc_rs::{rand::SystemRandom, signature};
        let rng = SystemRandom::new();
        let failed = |_| Error::key(KeyErrorKind::Malformed, "generating the DPoP key failed");
        let document = match alg {
            JwsAlgorithm::ES256 => signature::EcdsaKeyPair::generate_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &rng,
            )
            .map_err(failed)?,
            JwsAlgorithm::EdDSA => {
                signature::Ed25519KeyPair::generate_pkcs8v1(&rng).map_err(failed)?
            }
            other => return Err(unsupported(other)),
        };
        Self::from_pkcs8(alg, Zeroizing::new(document.as_ref().to_vec()))
    }

    /// Reads a DPoP key from PEM (a key kept in a secret store, or written by
    /// `openssl genpkey -algorithm ed25519` or `openssl ecparam -name prime256v1 -genkey`):
    /// PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`), as
    /// [`SigningKey::from_pem`] reads them. The algorithm follows the key: ES256 for an EC
    /// P-256 key, EdDSA for an Ed25519 key.
    ///
    /// ```
    /// use authed::oauth2::{DpopKey, JwsAlgorithm};
    ///
    /// // openssl genpkey -algorithm ed25519 (in practice: from a secret store or a 0600 file)
    /// let pem = "-----BEGIN PRIVATE KEY-----\n\
    ///            MC4CAQAwBQYDK2VwBCIEIK0dOhcdSF8PHkdtMaQBsEP9jlN/AjYuY4EZlE+Be8Qm\n\
    ///            -----END PRIVATE KEY-----\n";
    /// let key = DpopKey::from_pem(pem)?;
    /// assert_eq!(key.algorithm(), JwsAlgorithm::EdDSA);
    /// // The same key, the same thumbprint: tokens bound to it stay usable.
    /// assert_eq!(DpopKey::from_pem(pem)?.thumbprint(), key.thumbprint());
    /// # Ok::<(), authed::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Key`]: as for [`SigningKey::from_pem`], and [`KeyErrorKind::Unsupported`] for
    /// a key that is neither EC P-256 nor Ed25519 (an RSA or P-384 key).
    pub fn from_pem(pem: impl Into<Secret>) -> Result<Self> {
        let pem = pem.into();
        let (found, der) = signing_key::read_pem(JwsAlgorithm::ES256, pem.expose_secret())?;
        Self::from_pkcs8(dpop_algorithm(found, None)?, der)
    }

    /// Reads a DPoP key from a PEM file, with the checks of [`Secret::from_file`] (the file
    /// must not be readable by group or others on Unix).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the path when the file cannot be read; [`Error::Key`] as for
    /// [`DpopKey::from_pem`].
    pub fn from_pem_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        Self::from_pem(Secret::from_file(path)?)
    }

    /// Reads a DPoP key from a private JWK (RFC 7517): `kty` `EC` on `P-256` (`x`, `y`, `d`)
    /// or `OKP` on `Ed25519` (`x`, `d`), as [`SigningKey::from_jwk`] reads them. Its `alg`, if
    /// present, must be ES256 or EdDSA; `kid` is not used (a proof carries the public key).
    ///
    /// # Errors
    ///
    /// [`Error::Key`]: as for [`SigningKey::from_jwk`], and [`KeyErrorKind::Unsupported`] for
    /// another key type or an `alg` other than ES256 and EdDSA.
    pub fn from_jwk(jwk: impl Into<Secret>) -> Result<Self> {
        let jwk = jwk.into();
        let read = signing_key::read_jwk(jwk.expose_secret())?;
        Self::from_pkcs8(dpop_algorithm(read.found, read.alg)?, read.der)
    }

    /// The key from its PKCS#8 document: checks it, and derives the public JWK.
    fn from_pkcs8(alg: JwsAlgorithm, pkcs8: Zeroizing<Vec<u8>>) -> Result<Self> {
        use aws_lc_rs::signature::{self, KeyPair as _};
        let bad = || {
            Error::key(
                KeyErrorKind::Malformed,
                format!("the DPoP key is not a valid {alg} private key"),
            )
        };
        // The public JWK, members in RFC 7638 order.
        let jwk = match alg {
            JwsAlgorithm::ES256 => {
                let pair = signature::EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &pkcs8,
                )
                .map_err(|_| bad())?;
                // The uncompressed point: 0x04 || x || y.
                let point = pair.public_key().as_ref();
                if point.len() != 65 || point[0] != 4 {
                    return Err(bad());
                }
                let (x, y) = (
                    URL_SAFE_NO_PAD.encode(&point[1..33]),
                    URL_SAFE_NO_PAD.encode(&point[33..]),
                );
                // RFC 7638 §3: the required members, in lexicographic order, no spaces.
                format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#)
            }
            JwsAlgorithm::EdDSA => {
                let pair = signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
                    .map_err(|_| bad())?;
                let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
                format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#)
            }
            other => return Err(unsupported(other)),
        };
        // The thumbprint is the SHA-256 of exactly this text (RFC 7638).
        let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(jwk.as_bytes()));
        let jwk: Jwk = serde_json::from_str(&jwk).map_err(|_| bad())?;
        let key = SigningKey::from_pkcs8_der(alg, &pkcs8)?;
        Ok(Self {
            inner: Arc::new(KeyInner {
                alg,
                key,
                pkcs8,
                jwk,
                thumbprint,
            }),
        })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> JwsAlgorithm {
        self.inner.alg
    }

    /// The JWK SHA-256 thumbprint of the public key (RFC 7638), base64url: what the server
    /// binds tokens to (`cnf.jkt` in a token or introspection answer, `dpop_jkt` in an
    /// authorization request).
    pub fn thumbprint(&self) -> &str {
        &self.inner.thumbprint
    }

    /// A proof for one request: `htm` = `method`, `htu` = `url` without query and fragment,
    /// `iat` now, a random `jti`; `ath` when presenting `access_token`, `nonce` when the server
    /// gave one. A credential, so a [`Secret`].
    pub(crate) fn proof(
        &self,
        method: &Method,
        url: &Url,
        access_token: Option<&Secret>,
        nonce: Option<&Secret>,
    ) -> Result<Secret> {
        let htu = target_uri(url);
        let ath = access_token.map(|token| ath(token.expose_secret()));
        let claims = ProofClaims {
            jti: uuid::Uuid::new_v4().to_string(),
            htm: method.as_str(),
            htu: &htu,
            iat: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
            ath: ath.as_deref(),
            nonce: nonce.map(ExposeSecret::expose_secret),
        };
        let mut header = Header::new(self.inner.alg.jwt());
        header.typ = Some(PROOF_TYPE.to_owned());
        header.jwk = Some(self.inner.jwk.clone());
        Ok(Secret::new(
            self.inner.key.sign_with_header(&header, &claims)?,
        ))
    }

    /// The key as the token store keeps it: `<alg>.<base64url PKCS#8>`.
    pub(crate) fn to_stored(&self) -> Secret {
        Secret::new(format!(
            "{}.{}",
            self.inner.alg,
            URL_SAFE_NO_PAD.encode(&*self.inner.pkcs8)
        ))
    }

    /// Reads what [`DpopKey::to_stored`] wrote.
    pub(crate) fn from_stored(stored: &str) -> Result<Self> {
        let bad = || {
            Error::key(
                KeyErrorKind::Malformed,
                "the stored DPoP key is not `<alg>.<base64url PKCS#8>`",
            )
        };
        let (alg, der) = stored.split_once('.').ok_or_else(bad)?;
        let alg = match alg {
            "ES256" => JwsAlgorithm::ES256,
            "EdDSA" => JwsAlgorithm::EdDSA,
            _ => return Err(bad()),
        };
        let der = Zeroizing::new(URL_SAFE_NO_PAD.decode(der).map_err(|_| bad())?);
        Self::from_pkcs8(alg, der)
    }
}

/// The DPoP algorithm of a key that was read: ES256 for P-256, EdDSA for Ed25519 (and the
/// JWK's `alg`, if it names one, must agree).
fn dpop_algorithm(found: KeyType, named: Option<JwsAlgorithm>) -> Result<JwsAlgorithm> {
    let alg = match found {
        KeyType::P256 => JwsAlgorithm::ES256,
        KeyType::Ed25519 => JwsAlgorithm::EdDSA,
        other => {
            return Err(Error::key(
                KeyErrorKind::Unsupported,
                format!(
                    "DPoP keys are EC P-256 (ES256) or Ed25519 (EdDSA); this is {}",
                    other.describe()
                ),
            ));
        }
    };
    match named {
        Some(named) if named != alg => Err(unsupported(named)),
        _ => Ok(alg),
    }
}

fn unsupported(alg: JwsAlgorithm) -> Error {
    Error::key(
        KeyErrorKind::Unsupported,
        format!("DPoP keys are ES256 or EdDSA, not {alg}"),
    )
}

/// `htu`: the request URL without query and fragment (RFC 9449 §4.2). `Url` already has the
/// scheme and host in lower case and no default port.
pub(crate) fn target_uri(url: &Url) -> String {
    let mut htu = url.clone();
    htu.set_query(None);
    htu.set_fragment(None);
    htu.into()
}

/// `ath`: base64url(SHA-256(access token)) (RFC 9449 §4.2).
pub(crate) fn ath(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// The latest `DPoP-Nonce` of each server, by origin (RFC 9449 §8.2: a nonce is per server).
/// Nonces are treated as secrets: they never reach a log or an error.
#[derive(Default)]
pub(crate) struct Nonces(Mutex<HashMap<String, Secret>>);

impl fmt::Debug for Nonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.lock().map_or(0, |m| m.len());
        write!(f, "Nonces({count} servers)")
    }
}

impl Nonces {
    pub(crate) fn get(&self, url: &Url) -> Option<Secret> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&url.origin().ascii_serialization()).cloned()
    }

    /// Remembers `nonce` for `url`'s server; `true` when it differs from the one held.
    pub(crate) fn set(&self, url: &Url, nonce: &str) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let origin = url.origin().ascii_serialization();
        let changed = map
            .get(&origin)
            .is_none_or(|held| held.expose_secret() != nonce);
        map.insert(origin, Secret::new(nonce.to_owned()));
        changed
    }
}

/// The nonce a `DPoP-Nonce` header carries, if it is one (RFC 9449 §8.1: `nqchar`s).
pub(crate) fn nonce_header(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(DPOP_NONCE)?.to_str().ok()?.trim();
    (!value.is_empty()
        && value
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\'))
    .then_some(value)
}

/// Whether a `WWW-Authenticate` challenge is DPoP's `use_dpop_nonce`.
pub(crate) fn asks_for_nonce(challenge: &str) -> bool {
    let lower = challenge.to_ascii_lowercase();
    lower.contains("dpop") && lower.contains(USE_DPOP_NONCE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn a_proof_has_the_claims_of_rfc_9449() {
        for alg in [JwsAlgorithm::ES256, JwsAlgorithm::EdDSA] {
            let key = DpopKey::generate_with(alg).unwrap();
            let url = Url::parse("https://API.example.com:443/a/b?x=1#frag").unwrap();
            let token = Secret::new("tok".to_owned());
            let nonce = Secret::new("n-1".to_owned());
            let proof = key
                .proof(&Method::GET, &url, Some(&token), Some(&nonce))
                .unwrap();
            let parts: Vec<_> = proof.expose_secret().split('.').collect();
            let (header, claims) = (decode(parts[0]), decode(parts[1]));
            assert_eq!(header["typ"], "dpop+jwt");
            assert_eq!(header["alg"], alg.as_str());
            assert!(
                header["jwk"].get("d").is_none(),
                "no private key in the header"
            );
            assert_eq!(claims["htm"], "GET");
            assert_eq!(claims["htu"], "https://api.example.com/a/b");
            assert_eq!(claims["ath"], ath("tok"));
            assert_eq!(claims["nonce"], "n-1");
            let again = key.proof(&Method::GET, &url, None, None).unwrap();
            let again = decode(again.expose_secret().split('.').nth(1).unwrap());
            assert_ne!(claims["jti"], again["jti"]);
            assert!(again.get("ath").is_none() && again.get("nonce").is_none());
        }
    }

    #[test]
    fn a_stored_key_reads_back_as_the_same_key() {
        for alg in [JwsAlgorithm::ES256, JwsAlgorithm::EdDSA] {
            let key = DpopKey::generate_with(alg).unwrap();
            let back = DpopKey::from_stored(key.to_stored().expose_secret()).unwrap();
            assert_eq!(back.thumbprint(), key.thumbprint());
            assert_eq!(back.algorithm(), alg);
        }
        for bad in ["", "ES256", "ES256.!!", "RS256.AAAA", "ES256.AAAA"] {
            let err = DpopKey::from_stored(bad).unwrap_err();
            assert!(err.is_key(), "{bad}: {err}");
        }
        assert!(DpopKey::generate_with(JwsAlgorithm::RS256).is_err());
    }

    #[test]
    fn ath_is_the_rfc_example() {
        // RFC 9449 §7.1: the access token of the example and its `ath`.
        assert_eq!(
            ath("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn nonce_headers_and_challenges() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(nonce_header(&headers), None);
        headers.insert(
            DPOP_NONCE,
            http::HeaderValue::from_static("eyJ7S_zG.eyJH0-Z.HX4w-7v"),
        );
        assert_eq!(nonce_header(&headers), Some("eyJ7S_zG.eyJH0-Z.HX4w-7v"));
        headers.insert(DPOP_NONCE, http::HeaderValue::from_static("a\"b"));
        assert_eq!(nonce_header(&headers), None);
        assert!(asks_for_nonce(
            r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#
        ));
        assert!(!asks_for_nonce(r#"DPoP error="invalid_token""#));
    }
}
