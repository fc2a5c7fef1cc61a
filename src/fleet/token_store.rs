//! [`RedisTokenStore`]: one OAuth token set shared by a fleet of processes through Redis,
//! encrypted at rest, with a refresh lock that outlives no dead holder. Its docs (on the
//! type: this module is private) say which keys it keeps, the lock and its TTLs, the record
//! format and what happens when Redis fails.

use std::{
    fmt,
    sync::{Arc, LazyLock, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use base64::Engine as _;
use chacha20poly1305::{
    ChaCha20Poly1305, KeyInit as _, Nonce,
    aead::{Aead as _, Payload},
};
use secrecy::{ExposeSecret as _, zeroize::Zeroizing};
use tokio::time::Instant;

use super::Fleet;
use crate::{
    Secret,
    error::{Error, Result, StoreErrorKind},
    oauth2::{Token, TokenStore, TokenStoreLock},
    store::{from_record, to_record},
};

/// How long the refresh lock lives without renewal: a holder that dies frees it within this.
/// Its holder renews it every third of this while it lives (see [`MAX_LOCK_HOLD`]), so a
/// token endpoint slower than this does not let a second process in.
pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(5);

/// The shortest lock TTL [`RedisTokenStore::lock_ttl`] accepts: renewals every third of it
/// must fit between Redis calls bounded by the fleet's timeout.
pub const MIN_LOCK_TTL: Duration = Duration::from_secs(1);

/// A live holder renews its lock for at most this long, then lets it expire: a process
/// stuck in a token request cannot stall the fleet's refreshes for longer. (The same minute
/// `CredentialTokenStore` waits for its file lock.)
pub const MAX_LOCK_HOLD: Duration = Duration::from_secs(60);

/// How often a process that waits for another's refresh lock asks for it again.
pub const LOCK_POLL: Duration = Duration::from_millis(50);

/// Record format: the token set in clear ([`RedisTokenStore::insecure_plaintext`]).
const PLAIN_V1: u8 = 0x00;
/// Record format: nonce, then the ChaCha20-Poly1305 ciphertext and tag.
const SEALED_V1: u8 = 0x01;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// The first part of the associated data (the record's Redis key follows a zero byte).
const AAD_LABEL: &[u8] = b"authed token v1";

/// Takes the lock if free: KEYS lock, fence counter; ARGV ttl in ms. Returns the new fence,
/// or 0 when another process holds the lock. The fence is at least Redis's clock in
/// microseconds, so it keeps growing across a restart that lost the counter.
static ACQUIRE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local fence = redis.call('INCR', KEYS[2])
local now = redis.call('TIME')
local clock = tonumber(now[1]) * 1000000 + tonumber(now[2])
if fence < clock then
  fence = clock
  redis.call('SET', KEYS[2], string.format('%d', fence))
end
redis.call('SET', KEYS[1], string.format('%d', fence), 'PX', ARGV[1])
return fence
",
    )
});

/// Renews the lock if it still holds this fence: KEYS lock; ARGV fence, ttl in ms.
static RENEW: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
",
    )
});

/// Releases the lock if it still holds this fence: KEYS lock; ARGV fence.
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

/// Writes the record, fenced: KEYS record, lock, fence counter; ARGV the writer's fence
/// ('' when it holds no lock), the record, the expiry in Unix ms ('0': none). A holder
/// writes if the lock still holds its fence or the stored record is older than its fence;
/// a writer without the lock takes a new fence. Returns 1 when written, 0 when a newer
/// record won.
static SAVE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local fence = ARGV[1]
if fence ~= '' then
  if redis.call('GET', KEYS[2]) ~= fence then
    local stored = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0') or 0
    if stored >= tonumber(fence) then return 0 end
  end
else
  fence = string.format('%d', redis.call('INCR', KEYS[3]))
end
redis.call('HSET', KEYS[1], 'fence', fence, 'record', ARGV[2])
if ARGV[3] ~= '0' then
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
else
  redis.call('PERSIST', KEYS[1])
end
return 1
",
    )
});

/// Deletes the record, fenced like [`SAVE`]: KEYS record, lock; ARGV the fence ('' when
/// no lock is held). Returns 1 when deleted.
static CLEAR: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local fence = ARGV[1]
if fence ~= '' and redis.call('GET', KEYS[2]) ~= fence then
  local stored = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0') or 0
  if stored >= tonumber(fence) then return 0 end
end
return redis.call('DEL', KEYS[1])
",
    )
});

/// A [`TokenStore`] in Redis that a fleet of processes shares: one token request per expiry
/// across the fleet, the others wait for it and read it; token sets encrypted at rest; a
/// refresh lock that expires if its holder dies; Redis trouble never fails an API call.
///
/// ```no_run
/// use authed::{Client, Secret, fleet::{Fleet, RedisTokenStore}, oauth2::ClientCredentials};
///
/// # fn example() -> authed::Result<()> {
/// let fleet = Fleet::new(Secret::from_env("REDIS_URL")?)?;
/// // 32 random bytes, base64 (`openssl rand -base64 32`) or hex; the same in every replica.
/// let key = Secret::from_env("TOKEN_STORE_KEY")?;
/// let auth = ClientCredentials::new(
///    "https://auth.example.com/token",
///    "billing-sync",
///    Secret::from_env("CLIENT_SECRET")?,
/// )
/// .into_auth()
/// .refresh_in_background(true) // a long-running service: requests never wait on a refresh
/// .store(RedisTokenStore::new(&fleet, "billing-sync", key)?);
/// let api = Client::builder("https://api.example.com/")
///     .auth(auth)
///     .shared_pacing(fleet.pacing()) // and one API quota for the fleet
///     .build()?;
/// # let _ = api; Ok(()) }
/// ```
///
/// # How the fleet shares one token
///
/// [`TokenAuth`](crate::oauth2::TokenAuth) already does, for any store, what one process
/// needs: it takes the store's lock, re-reads the store, fetches only if the stored token is
/// still not fresh, writes the new one before using it, and releases the lock. This store
/// gives it a lock that every process of the fleet sees, so that when a token comes due
/// every process asks, one of them fetches, and the others, taking the lock after it, read
/// what it wrote: **one token request per expiry across the fleet**, and a rotated refresh
/// token is presented once (the holder re-reads the newest one under the lock). Expiry is
/// kept as wall-clock time of the process that fetched the token: the fleet's clocks should
/// agree (NTP), or the process whose clock runs ahead refreshes early.
///
/// # Keys
///
/// Three keys per token set, `{prefix}:{<name>}:<kind>` ([`Fleet`]'s scheme: one hash tag,
/// so the scripts run on Redis Cluster):
///
/// | key | type | holds | expires |
/// | --- | --- | --- | --- |
/// | `…:token` | hash | `fence` (decimal), `record` (bytes, below) | at the access token's expiry when the set has no refresh token; never otherwise |
/// | `…:lock` | string | the fence of the process that holds the refresh lock | after the lock TTL ([`DEFAULT_LOCK_TTL`]) unless its holder renews it |
/// | `…:fence` | string | the last fence handed out (a counter) | never |
///
/// # The refresh lock and its fence
///
/// [`TokenStore::lock`] runs one script: if nobody holds `…:lock`, it takes the next fence
/// (`INCR …:fence`, raised to Redis's clock in microseconds if that is larger, so that fences
/// keep growing across a restart of a Redis that lost the counter) and sets
/// `…:lock = fence` with `PX <ttl>`. Otherwise the process polls every [`LOCK_POLL`] (short
/// polling rather than pub/sub: no second connection, and a holder that dies without
/// publishing costs nothing more than its TTL).
///
/// - A **live holder** renews its lock every third of the TTL (a watchdog task, as
///   Redisson's), for at most [`MAX_LOCK_HOLD`]: a slow token endpoint does not let a second
///   process in, yet the TTL can stay short.
/// - A **dead holder** (killed, partitioned) stops renewing: its lock expires within the TTL
///   and the next process takes over. No fleet-wide stall beyond the TTL: the requests of
///   the processes whose token came due wait that long at most (as they wait for any
///   refresh), which is why the default TTL is short; with
///   [`TokenAuth::refresh_in_background`](crate::oauth2::TokenAuth::refresh_in_background)
///   they do not wait at all while their token is still good.
/// - Dropping the returned [`TokenStoreLock`] releases the lock with a compare-and-delete
///   script (spawned: `Drop` cannot wait).
/// - **Fencing**: [`TokenStore::save`] by a holder writes only if the lock still holds its
///   fence, or the stored record's fence is older than its own. A holder whose lock expired
///   while it waited on the token endpoint cannot overwrite the newer token of the process
///   that took over; its own token is kept in memory for this process (it is valid) and the
///   write is skipped. A save outside the lock ([`TokenAuth::set_token`], a login) takes a
///   new fence and writes.
///
/// A holder that dies *after* the token endpoint answered but before it wrote loses that
/// answer: with a server that rotates refresh tokens, the refresh token it presented is
/// spent and the next holder's refresh fails with `invalid_grant` unless the server allows
/// a grace period for reuse. No lock can prevent that; the lock keeps live processes (whose
/// lock holds) from ever presenting a spent refresh token.
///
/// # Encryption at rest
///
/// The `record` field is one version byte, then:
///
/// - `0x01`: ChaCha20-Poly1305 (RFC 8439) under the caller's 256-bit key: a fresh random
///   96-bit nonce per write (from the OS, `getrandom`), then the ciphertext of the
///   [`CredentialTokenStore`](crate::store::CredentialTokenStore) record (JSON: access,
///   refresh and ID token, scope, times, DPoP key) with its 16-byte tag. The associated data
///   is `authed token v1`, a zero byte and the full Redis key of the record, so a record
///   copied to another name or prefix does not decrypt. Random nonces are safe for far more
///   writes than a token set ever sees (2^32 under one key keeps the collision chance below
///   2^-32).
/// - `0x00`: the same record in clear, written only by a store built with
///   [`RedisTokenStore::insecure_plaintext`].
///
/// An encrypting store refuses a record in clear (someone with write access to Redis could
/// otherwise plant a token of theirs), and a plaintext store refuses an encrypted one.
///
/// ChaCha20-Poly1305 rather than AES-GCM: equally standard (RFC 8439, TLS 1.3) with the same
/// nonce size, and fast and constant-time in software on every CPU, where AES-GCM is fast
/// only with AES and carry-less multiply instructions and falls back to a slower bitsliced
/// implementation without them.
///
/// # When Redis fails
///
/// Every Redis call goes through [`Fleet`]'s bounded calls: unreachable, slow or restarted
/// Redis degrades the fleet with one warning and the store works alone, never failing the
/// API call:
///
/// - `load` returns the last token set this process read or wrote (kept in memory);
/// - `save` keeps the token set in memory and returns `Ok`;
/// - `lock` returns `Ok(None)`: the process refreshes alone;
/// - `clear` forgets the token set in memory and returns `Ok`.
///
/// While degraded, each process fetches its own tokens (as without a fleet). When Redis is
/// back, even empty after a restart, the next refresh takes the lock again and writes, and
/// the fleet shares one token from then on. With a rotating refresh token, an outage that
/// outlasts the access token makes every process refresh alone, and all but one of them
/// present a refresh token another one already spent: keep Redis highly available if your
/// server rotates refresh tokens, or give each process its own session.
///
/// # Wrong key, tampered record
///
/// A record that does not decrypt (another key, a changed byte, a copied record) makes
/// `load` fail with [`StoreErrorKind::Corrupted`], saying why but never showing the key or
/// the record. [`TokenAuth`](crate::oauth2::TokenAuth) treats that like a missing token: it
/// warns, fetches a new token and overwrites the record. It is not a Redis outage (Redis
/// answered), and failing the API call would turn a misconfigured replica or a vandalised
/// key into a fleet-wide outage; a new token from the authorization server is always a
/// safe answer. The warning repeats at every refresh until the keys agree.
///
/// # Logging out, Redis users
///
/// [`TokenAuth::forget`] (and `logout`) deletes the shared record: it ends the session of
/// every process, not only this one. The scripts need Redis 5 or later (or Valkey), for
/// `TIME` before a write. A Redis ACL user for the fleet needs its keys (`~<prefix>:*`) and
/// the commands `hget`, `evalsha` and `script|load`; the scripts call `exists`, `incr`,
/// `time`, `get`, `set`, `pexpire`, `del`, `hget`, `hset`, `pexpireat` and `persist`.
///
/// [`TokenAuth::set_token`]: crate::oauth2::TokenAuth::set_token
/// [`TokenAuth::forget`]: crate::oauth2::TokenAuth::forget
#[derive(Clone)]
pub struct RedisTokenStore {
    fleet: Fleet,
    name: String,
    keys: Arc<Keys>,
    /// `None`: [`RedisTokenStore::insecure_plaintext`].
    cipher: Option<Arc<ChaCha20Poly1305>>,
    lock_ttl: Duration,
    local: Arc<Local>,
}

struct Keys {
    record: String,
    lock: String,
    fence: String,
}

/// What this process knows without Redis.
#[derive(Default)]
struct Local {
    /// The last token set read from or written to Redis: served while Redis is away.
    token: Mutex<Option<Token>>,
    /// The fence of the refresh lock this process holds, if any.
    held: Mutex<Option<i64>>,
}

impl fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTokenStore")
            .field("name", &self.name)
            .field("key", &self.keys.record)
            .field("encrypted", &self.cipher.is_some())
            .field("lock_ttl", &self.lock_ttl)
            .field("fleet", &self.fleet)
            .finish()
    }
}

impl RedisTokenStore {
    /// The token set called `name` in `fleet`'s Redis, encrypted with `key`: 32 random bytes
    /// as base64 (standard or URL-safe alphabet, padded or not: `openssl rand -base64 32`)
    /// or as 64 hex digits (`openssl rand -hex 32`). Every process of the fleet needs the
    /// same key.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the key is not 32 bytes in either form (the message never
    /// shows it).
    pub fn new(fleet: &Fleet, name: impl Into<String>, key: impl Into<Secret>) -> Result<Self> {
        let key = parse_key(&key.into())?;
        let cipher = ChaCha20Poly1305::new_from_slice(&key[..])
            .map_err(|_| Error::config("the token store key must be 32 bytes"))?;
        Ok(Self::with_cipher(
            fleet,
            name.into(),
            Some(Arc::new(cipher)),
        ))
    }

    /// The token set called `name` in `fleet`'s Redis, **in clear**: anyone who can read
    /// the Redis (its users, its backups, its replicas) can read the access and refresh
    /// tokens. For a Redis that holds nothing else and that only the fleet can reach; prefer
    /// [`RedisTokenStore::new`] with a key.
    pub fn insecure_plaintext(fleet: &Fleet, name: impl Into<String>) -> Self {
        Self::with_cipher(fleet, name.into(), None)
    }

    fn with_cipher(fleet: &Fleet, name: String, cipher: Option<Arc<ChaCha20Poly1305>>) -> Self {
        let keys = Keys {
            record: fleet.key(&name, "token"),
            lock: fleet.key(&name, "lock"),
            fence: fleet.key(&name, "fence"),
        };
        Self {
            fleet: fleet.clone(),
            name,
            keys: Arc::new(keys),
            cipher,
            lock_ttl: DEFAULT_LOCK_TTL,
            local: Arc::default(),
        }
    }

    /// How long the refresh lock lives unless its holder renews it (default
    /// [`DEFAULT_LOCK_TTL`], at least [`MIN_LOCK_TTL`]): how long the fleet waits for a
    /// holder that died before another process refreshes.
    #[must_use]
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl.max(MIN_LOCK_TTL);
        self
    }

    /// Whether token sets are encrypted at rest (built with [`RedisTokenStore::new`]).
    pub fn is_encrypted(&self) -> bool {
        self.cipher.is_some()
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.lock_ttl.as_millis()).unwrap_or(u64::MAX)
    }

    fn held(&self) -> Option<i64> {
        *self.local.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, token: Option<Token>) {
        *self.local.token.lock().unwrap_or_else(|e| e.into_inner()) = token;
    }

    fn remembered(&self) -> Option<Token> {
        self.local
            .token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn aad(&self) -> Vec<u8> {
        let mut aad = AAD_LABEL.to_vec();
        aad.push(0);
        aad.extend_from_slice(self.keys.record.as_bytes());
        aad
    }

    fn corrupted(&self, why: &str) -> Error {
        Error::store(
            StoreErrorKind::Corrupted,
            format!(
                "the token set in Redis ({}) is not usable: {why}; a new token will replace it",
                self.keys.record
            ),
        )
    }

    /// `token` as the bytes of the `record` field.
    fn seal(&self, token: &Token) -> Result<Vec<u8>> {
        let record = to_record(token);
        let plain = record.expose_secret().as_bytes();
        let Some(cipher) = &self.cipher else {
            let mut out = Vec::with_capacity(1 + plain.len());
            out.push(PLAIN_V1);
            out.extend_from_slice(plain);
            return Ok(out);
        };
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| {
            Error::store(
                StoreErrorKind::Io,
                format!("no random nonce to encrypt the token set with: {e}"),
            )
        })?;
        let aad = self.aad();
        let sealed = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::store(StoreErrorKind::Io, "encrypting the token set failed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The token set in the bytes of a `record` field.
    fn open(&self, bytes: &[u8]) -> Result<Token> {
        let Some((&version, rest)) = bytes.split_first() else {
            return Err(self.corrupted("the record is empty"));
        };
        let plain = match (version, &self.cipher) {
            (SEALED_V1, Some(cipher)) => {
                if rest.len() < NONCE_LEN + TAG_LEN {
                    return Err(self.corrupted("the record is too short"));
                }
                let (nonce, sealed) = rest.split_at(NONCE_LEN);
                let nonce: [u8; NONCE_LEN] = nonce
                    .try_into()
                    .map_err(|_| self.corrupted("the record is too short"))?;
                let aad = self.aad();
                let plain = cipher
                    .decrypt(
                        &Nonce::from(nonce),
                        Payload {
                            msg: sealed,
                            aad: &aad,
                        },
                    )
                    .map_err(|_| {
                        self.corrupted(
                            "it does not decrypt with this store's key (the fleet's processes \
                             must share one key) or it was changed or copied from another name",
                        )
                    })?;
                Zeroizing::new(plain)
            }
            (PLAIN_V1, None) => Zeroizing::new(rest.to_vec()),
            (SEALED_V1, None) => {
                return Err(self.corrupted(
                    "it is encrypted and this store has no key: build it with RedisTokenStore::new and the fleet's key",
                ));
            }
            (PLAIN_V1, Some(_)) => {
                return Err(self.corrupted(
                    "it is stored in clear and this store accepts only encrypted records (one planted by someone who can write to Redis would be used otherwise)",
                ));
            }
            _ => return Err(self.corrupted("unknown record format")),
        };
        std::str::from_utf8(&plain)
            .ok()
            .and_then(from_record)
            .ok_or_else(|| self.corrupted("not a token record"))
    }
}

/// The 32 key bytes of `key`: 64 hex digits, or base64 of 32 bytes (either alphabet,
/// padded or not).
fn parse_key(key: &Secret) -> Result<Zeroizing<Vec<u8>>> {
    let text = key.expose_secret().trim();
    let hex = (text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
        Zeroizing::new(
            text.as_bytes()
                .chunks(2)
                .map(|pair| (hex_digit(pair[0]) << 4) | hex_digit(pair[1]))
                .collect::<Vec<u8>>(),
        )
    });
    let bytes = hex.or_else(|| {
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .map(Zeroizing::new)
    });
    match bytes {
        Some(bytes) if bytes.len() == 32 => Ok(bytes),
        _ => Err(Error::config(
            "the token store key must be 32 random bytes, as base64 (`openssl rand -base64 32`) \
             or as 64 hex digits (`openssl rand -hex 32`); the key given is neither",
        )),
    }
}

fn hex_digit(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// `at` in Unix milliseconds (at least 1: 0 means "no expiry" to the script).
fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(1, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .max(1)
}

#[async_trait]
impl TokenStore for RedisTokenStore {
    async fn load(&self) -> Result<Option<Token>> {
        let key = self.keys.record.clone();
        let reply = self
            .fleet
            .call("token load", |mut conn| async move {
                redis::cmd("HGET")
                    .arg(&key)
                    .arg("record")
                    .query_async::<Option<Vec<u8>>>(&mut conn)
                    .await
            })
            .await;
        match reply {
            // Redis is away: what this process last knew.
            None => Ok(self.remembered()),
            Some(None) => Ok(None),
            Some(Some(bytes)) => {
                let token = self.open(&bytes)?;
                self.remember(Some(token.clone()));
                Ok(Some(token))
            }
        }
    }

    async fn save(&self, token: &Token) -> Result<()> {
        self.remember(Some(token.clone()));
        let record = self.seal(token)?;
        let fence = self.held().map(|f| f.to_string()).unwrap_or_default();
        // A token set that cannot be refreshed is worthless once expired: let Redis drop it.
        let expires = match (token.refresh_token(), token.expires_at()) {
            (None, Some(at)) => unix_ms(at),
            _ => 0,
        };
        let keys = Arc::clone(&self.keys);
        let written = self
            .fleet
            .call("token save", |mut conn| async move {
                SAVE.key(&keys.record)
                    .key(&keys.lock)
                    .key(&keys.fence)
                    .arg(fence)
                    .arg(record)
                    .arg(expires)
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await;
        if written == Some(0) {
            tracing::info!(
                target: "authed::fleet",
                key = %self.keys.record,
                "this process's refresh lock expired before it wrote, and another process wrote a newer token set: that one stays in Redis; this process uses its own until the next refresh"
            );
        }
        // `None`: Redis is away (the fleet warned); the token set is kept in memory.
        Ok(())
    }

    async fn clear(&self) -> Result<()> {
        self.remember(None);
        let fence = self.held().map(|f| f.to_string()).unwrap_or_default();
        let keys = Arc::clone(&self.keys);
        self.fleet
            .call("token clear", |mut conn| async move {
                CLEAR
                    .key(&keys.record)
                    .key(&keys.lock)
                    .arg(fence)
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await;
        Ok(())
    }

    async fn lock(&self) -> Result<Option<TokenStoreLock>> {
        let give_up = Instant::now() + MAX_LOCK_HOLD + self.lock_ttl;
        let ttl_ms = self.ttl_ms();
        loop {
            let keys = Arc::clone(&self.keys);
            let acquired = self
                .fleet
                .call("token lock", |mut conn| async move {
                    ACQUIRE
                        .key(&keys.lock)
                        .key(&keys.fence)
                        .arg(ttl_ms)
                        .invoke_async::<i64>(&mut conn)
                        .await
                })
                .await;
            match acquired {
                // Redis is away: refresh alone.
                None => return Ok(None),
                Some(fence) if fence > 0 => {
                    // No await between the script's answer and the guard: a cancelled
                    // caller cannot leave the lock held (beyond its TTL).
                    return Ok(Some(TokenStoreLock::new(self.guard(fence))));
                }
                Some(_) => {}
            }
            if Instant::now() >= give_up {
                return Err(Error::store(
                    StoreErrorKind::Timeout,
                    format!(
                        "another process held the refresh lock of {} for longer than {:?}",
                        self.keys.record,
                        MAX_LOCK_HOLD + self.lock_ttl
                    ),
                ));
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    }
}

impl RedisTokenStore {
    /// The guard of a lock just taken with `fence`: starts its watchdog.
    fn guard(&self, fence: i64) -> LockGuard {
        *self.local.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(fence);
        let watchdog = {
            let fleet = self.fleet.clone();
            let keys = Arc::clone(&self.keys);
            let ttl = self.lock_ttl;
            let ttl_ms = self.ttl_ms();
            tokio::spawn(async move {
                let until = Instant::now() + MAX_LOCK_HOLD;
                loop {
                    tokio::time::sleep(ttl / 3).await;
                    if Instant::now() >= until {
                        tracing::warn!(
                            target: "authed::fleet",
                            key = %keys.lock,
                            "the token refresh has held the fleet's lock for {MAX_LOCK_HOLD:?}; no longer renewing it, so another process can refresh"
                        );
                        return;
                    }
                    let keys = Arc::clone(&keys);
                    let renewed = fleet
                        .call("token lock renewal", |mut conn| async move {
                            RENEW
                                .key(&keys.lock)
                                .arg(fence)
                                .arg(ttl_ms)
                                .invoke_async::<i64>(&mut conn)
                                .await
                        })
                        .await;
                    if renewed != Some(1) {
                        return;
                    }
                }
            })
        };
        LockGuard {
            fleet: self.fleet.clone(),
            keys: Arc::clone(&self.keys),
            local: Arc::clone(&self.local),
            fence,
            watchdog: watchdog.abort_handle(),
        }
    }
}

/// A held refresh lock: stops renewing and releases it when dropped.
struct LockGuard {
    fleet: Fleet,
    keys: Arc<Keys>,
    local: Arc<Local>,
    fence: i64,
    watchdog: tokio::task::AbortHandle,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.watchdog.abort();
        {
            let mut held = self.local.held.lock().unwrap_or_else(|e| e.into_inner());
            if *held == Some(self.fence) {
                *held = None;
            }
        }
        // Outside a runtime the lock just expires after its TTL.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (fleet, keys, fence) = (self.fleet.clone(), Arc::clone(&self.keys), self.fence);
        // Even while the fleet is degraded: a lock left behind makes the other processes
        // wait for its TTL, and nobody waits for this call.
        runtime.spawn(async move {
            fleet
                .call_anyway("token unlock", |mut conn| async move {
                    RELEASE
                        .key(&keys.lock)
                        .arg(fence)
                        .invoke_async::<i64>(&mut conn)
                        .await
                })
                .await
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_B64: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
    const KEY_HEX: &str = "abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890";

    fn fleet() -> Fleet {
        Fleet::new("redis://127.0.0.1:1/").unwrap()
    }

    fn token() -> Token {
        Token::bearer("access-canary-1")
            .with_refresh_token("refresh-canary-1")
            .with_expires_in(Duration::from_secs(60))
    }

    #[test]
    fn keys_are_taken_as_base64_or_hex_and_anything_else_is_refused_unseen() {
        assert!(RedisTokenStore::new(&fleet(), "t", KEY_B64).is_ok());
        assert!(RedisTokenStore::new(&fleet(), "t", KEY_B64.trim_end_matches('=')).is_ok());
        assert!(RedisTokenStore::new(&fleet(), "t", KEY_HEX).is_ok());
        let same = RedisTokenStore::new(&fleet(), "t", KEY_HEX).unwrap();
        let sealed = RedisTokenStore::new(&fleet(), "t", KEY_B64)
            .unwrap()
            .seal(&token())
            .unwrap();
        // The hex and the base64 above are the same 32 bytes.
        assert_eq!(
            same.open(&sealed).unwrap().access_token().expose_secret(),
            "access-canary-1"
        );
        for bad in [
            "",
            "short-canary-key",
            "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQ", // 24 bytes
            &format!("{KEY_HEX}00"),            // 33 bytes of hex
            &"zz".repeat(32),                   // 64 characters, not hex, not 32 bytes
            "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=!", // not base64
        ] {
            let err = RedisTokenStore::new(&fleet(), "t", bad).unwrap_err();
            assert!(err.is_config(), "{bad:?}: {err:?}");
            let shown = format!("{err} {err:?}");
            assert!(bad.is_empty() || !shown.contains(bad), "{shown}");
            assert!(shown.contains("openssl rand"), "{shown}");
        }
    }

    #[test]
    fn a_sealed_record_hides_the_tokens_and_opens_only_with_its_key_and_name() {
        let store = RedisTokenStore::new(&fleet(), "billing", KEY_B64).unwrap();
        let token = token();
        let sealed = store.seal(&token).unwrap();
        assert_eq!(sealed[0], SEALED_V1);
        let text = String::from_utf8_lossy(&sealed);
        assert!(!text.contains("canary"), "{text}");
        // A fresh nonce each time.
        assert_ne!(store.seal(&token).unwrap(), sealed);

        let back = store.open(&sealed).unwrap();
        assert_eq!(
            back.refresh_token().map(|s| s.expose_secret()),
            Some("refresh-canary-1")
        );
        // Times survive as the record keeps them (fractional seconds).
        let (sent, got) = (token.expires_at().unwrap(), back.expires_at().unwrap());
        let apart = sent
            .duration_since(got)
            .or_else(|_| got.duration_since(sent))
            .unwrap();
        assert!(apart < Duration::from_millis(1), "{sent:?} {got:?}");

        let other_key = RedisTokenStore::new(&fleet(), "billing", "11".repeat(32)).unwrap();
        let other_name = RedisTokenStore::new(&fleet(), "payroll", KEY_B64).unwrap();
        let other_prefix =
            RedisTokenStore::new(&fleet().prefix("other"), "billing", KEY_B64).unwrap();
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        for (what, store, bytes) in [
            ("another key", &other_key, &sealed),
            ("another name", &other_name, &sealed),
            ("another prefix", &other_prefix, &sealed),
            ("a changed byte", &store, &flipped),
            ("a cut record", &store, &sealed[..20].to_vec()),
            ("nothing", &store, &Vec::new()),
            ("an unknown version", &store, &[7u8, 1, 2, 3].to_vec()),
        ] {
            let err = store.open(bytes).unwrap_err();
            assert!(
                matches!(&err, Error::Store(e) if e.kind == StoreErrorKind::Corrupted),
                "{what}: {err:?}"
            );
            assert!(!err.to_string().contains("canary"), "{what}: {err}");
        }
    }

    #[test]
    fn clear_and_encrypted_records_are_not_mixed() {
        let plain = RedisTokenStore::insecure_plaintext(&fleet(), "billing");
        let sealed = RedisTokenStore::new(&fleet(), "billing", KEY_B64).unwrap();
        let clear_record = plain.seal(&token()).unwrap();
        assert_eq!(clear_record[0], PLAIN_V1);
        assert!(String::from_utf8_lossy(&clear_record).contains("access-canary-1"));
        assert_eq!(
            plain
                .open(&clear_record)
                .unwrap()
                .access_token()
                .expose_secret(),
            "access-canary-1"
        );
        let err = sealed.open(&clear_record).unwrap_err();
        assert!(err.to_string().contains("stored in clear"), "{err}");
        let err = plain.open(&sealed.seal(&token()).unwrap()).unwrap_err();
        assert!(err.to_string().contains("no key"), "{err}");
    }

    mod untrusted {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: 256,
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            /// What Redis hands back is untrusted: any bytes give a token or an error, never
            /// a panic, for either kind of store.
            #[test]
            fn any_record_bytes_open_or_fail_without_panic(
                bytes in proptest::collection::vec(any::<u8>(), 0..300),
                version in 0u8..3,
            ) {
                let sealed = RedisTokenStore::new(&fleet(), "t", KEY_B64).unwrap();
                let plain = RedisTokenStore::insecure_plaintext(&fleet(), "t");
                let mut record = vec![version];
                record.extend_from_slice(&bytes);
                let _ = sealed.open(&record);
                let _ = plain.open(&record);
                let _ = sealed.open(&bytes);
                let _ = plain.open(&bytes);
            }

            /// Any change to one byte of a sealed record is detected.
            #[test]
            fn a_sealed_record_with_any_byte_changed_does_not_open(
                at in any::<prop::sample::Index>(),
                flip in 1u8..=255,
            ) {
                let store = RedisTokenStore::new(&fleet(), "t", KEY_B64).unwrap();
                let mut record = store.seal(&token()).unwrap();
                let i = at.index(record.len());
                record[i] ^= flip;
                prop_assert!(store.open(&record).is_err());
            }
        }
    }

    #[test]
    fn debug_shows_the_name_and_not_the_key() {
        let store = RedisTokenStore::new(
            &Fleet::new("redis://w:pw-canary@127.0.0.1:1/").unwrap(),
            "billing",
            KEY_B64,
        )
        .unwrap()
        .lock_ttl(Duration::from_millis(1));
        let shown = format!("{store:?}");
        assert!(shown.contains("authed:{billing}:token"), "{shown}");
        assert!(shown.contains("encrypted: true"), "{shown}");
        assert!(shown.contains("lock_ttl: 1s"), "the floor applies: {shown}");
        assert!(
            !shown.contains(KEY_B64) && !shown.contains("pw-canary"),
            "{shown}"
        );
    }
}
