// Local OAuth 2.0 / OpenID Connect authorization server for authed's
// integration tests: the real node-oidc-provider (pinned in package.json),
// configured below. Nothing here re-implements OAuth: this file only wires
// configuration.
//
//   npm ci --prefix tests/oidc          # once
//   node tests/oidc/server.mjs 0        # 0 = ephemeral port
//
// On start it prints exactly one line to stdout,
//
//   ISSUER http://127.0.0.1:PORT
//
// once it is accepting connections, then serves until killed. Every token,
// code, session and grant lives in memory, so each run starts empty.
// Signing keys are generated per run. The provider writes two warnings to
// stderr at startup (in-memory adapter, devInteractions: they cannot be
// turned off); everything that would print "you SHOULD change this" notices
// to stdout is configured below. Nothing secret is printed.
//
// Pinned to 8.8.1: oidc-provider has no `engines`, but 9.x warns
// "Unsupported runtime. Use Node.js v22.x LTS" on Node 20, while 8.x supports
// Node 18+. This file also works unchanged with 9.13.3.
//
// The Rust side is tests/support/oidc.rs (OidcServer::start / require).

import { createPublicKey, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

const HOST = '127.0.0.1';

const portArg = process.argv[2] ?? '0';
const requestedPort = Number.parseInt(portArg, 10);
if (!/^\d+$/.test(portArg) || requestedPort > 65535) {
  process.stderr.write(`usage: node server.mjs PORT  (0 = ephemeral), got ${JSON.stringify(portArg)}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------
// Test fixtures shared with tests/support/oidc.rs. Keep the two in sync.
// ---------------------------------------------------------------------------

// Deliberately contains '+', '%', '/' and ':'. RFC 6749 §2.3.1 says that for
// HTTP Basic the client_id and client_secret are each
// application/x-www-form-urlencoded *before* being joined with ':' and
// base64-encoded. oidc-provider decodes them that way
// (decodeURIComponent(value.replace(/\+/g, '%20'))), so:
//   - correctly encoded "s3cr%2Bt%25%2F%3Ax"  -> accepted
//   - raw "s3cr+t%/:x"                        -> 400 invalid_request
//     ("client_id and client_secret in the authorization header are not
//     properly encoded": "%/:" is not a valid percent escape)
//   - a secret without '%' sent raw would have its '+' decoded to ' ' and
//     fail with 401 invalid_client.
const CC_SECRET = 's3cr+t%/:x';

// RFC 8707 resource indicator of a fictional API. Requesting it (parameter
// `resource`) yields a JWT access token with `aud` = this value; without a
// `resource` parameter access tokens are opaque. See getResourceServerInfo.
const TEST_API = 'urn:authed:test-api';
const TEST_API_SCOPES = 'api:read api:write';

// Lifetimes in seconds.
const ACCESS_TOKEN_TTL = 3; // short on purpose: refresh across expiry
const REFRESH_TOKEN_TTL = 24 * 60 * 60;
const AUTHORIZATION_CODE_TTL = 60;
const DEVICE_CODE_TTL = 5 * 60;
const ID_TOKEN_TTL = 60;
const INTERACTION_TTL = 10 * 60;
const SESSION_TTL = 24 * 60 * 60;
const GRANT_TTL = 24 * 60 * 60;

const clients = [
  // a) Confidential, client_credentials only, HTTP Basic client auth.
  {
    client_id: 'cc-basic',
    client_secret: CC_SECRET,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: TEST_API_SCOPES,
  },
  // b) Same, but the secret goes in the form body (client_secret_post).
  // Quirk: oidc-provider treats client_secret_basic and client_secret_post
  // as interchangeable for a client registered with either, so cc-post's
  // credentials sent with Basic (or cc-basic's in the body) are accepted.
  // Sending both at once is 400 invalid_request.
  {
    client_id: 'cc-post',
    client_secret: CC_SECRET,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_post',
    scope: TEST_API_SCOPES,
  },
  // c) Public native app: authorization code + PKCE (S256) + refresh.
  // RFC 8252 §7.3: for native clients oidc-provider ignores the port of
  // http loopback redirect URIs (127.0.0.1, localhost, [::1]), so
  // http://127.0.0.1:<any port>/callback is accepted. Path and query must
  // still match exactly.
  {
    client_id: 'native',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/callback'],
  },
  // d) Public device (RFC 8628) client with refresh.
  {
    client_id: 'device',
    token_endpoint_auth_method: 'none',
    grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
    response_types: [],
    redirect_uris: [],
  },
];

// ---------------------------------------------------------------------------
// Introspection, resource indicators, token exchange and PAR (issue 12, items
// 4, 5, 7, 8): additions only, applied to the configuration by withPar() below.
// ---------------------------------------------------------------------------

// Set to 1 in the environment to make PAR required for every client as a
// server policy: discovery then says require_pushed_authorization_requests.
const REQUIRE_PAR = process.env.AUTHED_OIDC_REQUIRE_PAR === '1';

// e) Public native app for which the server requires PAR (client metadata
// require_pushed_authorization_requests): an authorization request that was
// not pushed is refused. Otherwise the same as `native`.
clients.push({
  client_id: 'native-par',
  application_type: 'native',
  token_endpoint_auth_method: 'none',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: ['http://127.0.0.1/callback'],
  require_pushed_authorization_requests: true,
});

// RFC 9126: oidc-provider enables PAR by default; this states it, and adds the
// server-wide requirement when AUTHED_OIDC_REQUIRE_PAR=1. (Introspection and
// revocation are enabled in configuration() already.)
function withPar(config) {
  config.features.pushedAuthorizationRequests = {
    enabled: true,
    requirePushedAuthorizationRequests: REQUIRE_PAR,
  };
  return config;
}

// ---------------------------------------------------------------------------
// Issue 12, client authentication with a key (RFC 7523 §2.2, OIDC Core §9):
// private_key_jwt and client_secret_jwt clients. The private keys are the
// test-only fixtures in tests/oidc/keys/ (see its README); the server gets
// their public halves. tests/support/oidc.rs names the same clients.
// oidc-provider's default enabledJWA.clientAuthSigningAlgValues is
// HS256, RS256, PS256, ES256, EdDSA; it refuses a reused jti ("client
// assertion tokens must only be used once") and accepts as `aud` the token
// endpoint URL, the issuer or the URL of the endpoint called.
// ---------------------------------------------------------------------------

const KEYS_DIR = new URL('./keys/', import.meta.url);

function publicJwk(file, kid) {
  const jwk = createPublicKey(readFileSync(new URL(file, KEYS_DIR))).export({ format: 'jwk' });
  return { ...jwk, kid, use: 'sig' };
}

// HS256 keys need at least 32 bytes; this one is 44.
const JWT_SECRET = 'hs256-client-secret-of-44-bytes-for-tests!!!';

function keyClient(clientId, alg, keyFile, kid) {
  return {
    client_id: clientId,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: alg,
    jwks: { keys: [publicJwk(keyFile, kid)] },
    scope: TEST_API_SCOPES,
  };
}

clients.push(
  keyClient('pkjwt-rs256', 'RS256', 'rs256.pem', 'rs256-1'),
  keyClient('pkjwt-es256', 'ES256', 'es256.pem', 'es256-1'),
  keyClient('pkjwt-eddsa', 'EdDSA', 'ed25519.pem', 'ed25519-1'),
  {
    client_id: 'csjwt',
    client_secret: JWT_SECRET,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_jwt',
    token_endpoint_auth_signing_alg: 'HS256',
    scope: TEST_API_SCOPES,
  },
);

// ---------------------------------------------------------------------------
// Issue 12, ID token validation: the server's signing keys, configurable.
// AUTHED_OIDC_SIGNING_KEY names a test-only RSA key in tests/oidc/keys/
// (id-token-1.pem, id-token-2.pem): the server signs ID tokens with it (RS256),
// with kid = the file name without `.pem`. The tests read the same file, so
// they can sign tokens as this server would; restarting the server on the same
// port with the other file is a key rotation (a new kid in the JWKS).
// Unset: a fresh key per run, as before (signingKeys() below).
// ---------------------------------------------------------------------------

import { createPrivateKey } from 'node:crypto';

const SIGNING_KEY_FILE = process.env.AUTHED_OIDC_SIGNING_KEY;

function withSigningKey(config) {
  if (SIGNING_KEY_FILE === undefined || SIGNING_KEY_FILE === '') {
    return config;
  }
  if (!/^[A-Za-z0-9_-]+\.pem$/.test(SIGNING_KEY_FILE)) {
    process.stderr.write(`AUTHED_OIDC_SIGNING_KEY must name a .pem file in tests/oidc/keys, got ${JSON.stringify(SIGNING_KEY_FILE)}\n`);
    process.exit(2);
  }
  const jwk = createPrivateKey(readFileSync(new URL(SIGNING_KEY_FILE, KEYS_DIR))).export({ format: 'jwk' });
  const kid = SIGNING_KEY_FILE.replace(/\.pem$/, '');
  config.jwks = { keys: [{ ...jwk, kid, use: 'sig', alg: 'RS256' }] };
  return config;
}

// ---------------------------------------------------------------------------

// --- DPoP (RFC 9449; issue 12 item 3) ---------------------------------------------------
// Two clients whose access tokens must be DPoP-bound: a public one for the authorization code
// flow (its refresh tokens are bound to the key too) and a confidential one for client
// credentials. The server issues nonces and requires one in every proof, so each client's
// first proof to each endpoint is answered `use_dpop_nonce` (400 at the token endpoint,
// 401 + WWW-Authenticate at userinfo): every DPoP test makes the nonce round trip.
clients.push(
  {
    client_id: 'dpop-native',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/callback'],
    dpop_bound_access_tokens: true,
  },
  {
    client_id: 'dpop-cc',
    client_secret: CC_SECRET,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: TEST_API_SCOPES,
    dpop_bound_access_tokens: true,
  },
);

function withDpop(config) {
  config.features.dPoP = {
    enabled: true,
    nonceSecret: randomBytes(32),
    requireNonce() {
      return true;
    },
  };
  return config;
}
// --- end DPoP ------------------------------------------------------------------------------

function htmlEscape(value) {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function page(title, body) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1>${title}</h1>
${body}
</body></html>`;
}

// Fresh signing key per run (otherwise the provider falls back to its
// published development keys and warns). RS256 is the OIDC default alg.
function signingKeys() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { keys: [{ ...jwk, kid: `test-${randomUUID()}`, use: 'sig', alg: 'RS256' }] };
}

function configuration() {
  return {
    clients,
    jwks: signingKeys(),

    // Any login name is an account; the password typed into the
    // devInteractions login form is ignored.
    async findAccount(_ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          return { sub, name: sub };
        },
      };
    },
    claims: {
      openid: ['sub'],
      profile: ['name'],
    },
    // Scopes the provider knows. Unknown scopes in a request are silently
    // dropped, not rejected. In an authorization request, offline_access is
    // kept only when `prompt` includes `consent` (OIDC Core §11), otherwise
    // silently dropped; device authorization requests keep it as asked.
    scopes: ['openid', 'offline_access', 'profile', 'api:read', 'api:write'],
    responseTypes: ['code'],

    features: {
      // Plain HTML login + consent forms at /interaction/:uid. Login takes
      // any name; consent grants everything that was asked, including
      // offline_access. Development only, which is what this is.
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      // RFC 8628. The device authorization response has device_code,
      // user_code, verification_uri(_complete) and expires_in, but no
      // `interval` (clients then default to 5 s), and polling never gets
      // slow_down: only authorization_pending until the user is done.
      deviceFlow: {
        enabled: true,
        // user codes look like "BCDF-GHJK" (base-20 letters, no vowels);
        // the /device form accepts them with or without the dash, any case.
        charset: 'base-20',
        mask: '****-****',
        // The three pages below are the provider's defaults minus styling
        // (and minus its "you SHOULD change this" notices). `form` is
        // generated by the provider. tests/support/oidc.rs reads the
        // <title>s and the <p class="red"> messages.
        async userCodeInputSource(ctx, form, _out, err) {
          let msg;
          if (err && (err.userCode || err.name === 'NoCodeError')) {
            msg = '<p class="red">The code you entered is incorrect. Try again</p>';
          } else if (err && err.name === 'AbortedError') {
            msg = '<p class="red">The Sign-in request was interrupted</p>';
          } else if (err) {
            msg = '<p class="red">There was an error processing your request</p>';
          } else {
            msg = '<p>Enter the code displayed on your device</p>';
          }
          ctx.body = page('Sign-in', `${msg}
${form}
<button type="submit" form="op.deviceInputForm">Continue</button>`);
        },
        async userCodeConfirmSource(ctx, form, client, _deviceInfo, userCode) {
          ctx.body = page('Device Login Confirmation', `<p><strong>${htmlEscape(client.clientName || client.clientId)}</strong>
wants to sign in. The code on your device should be <code>${htmlEscape(userCode)}</code>.</p>
${form}
<button autofocus type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" value="yes" name="abort">[ Abort ]</button>`);
        },
        async successSource(ctx) {
          ctx.body = page('Sign-in Success', '<p>Your sign-in was successful, you can now close this page.</p>');
        },
      },
      revocation: { enabled: true },
      introspection: {
        enabled: true,
        // Same as the provider's default: a public client may only
        // introspect its own tokens; confidential clients may introspect any.
        async allowedPolicy(ctx, client, token) {
          return !(client.clientAuthMethod === 'none' && token.clientId !== ctx.oidc.client.clientId);
        },
      },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: false },
      // RFC 8707. No default resource: without a `resource` parameter access
      // tokens are opaque (and, with `openid`, meant for /me, the userinfo
      // endpoint). With resource=urn:authed:test-api they are JWTs.
      resourceIndicators: {
        enabled: true,
        async defaultResource() {
          return undefined;
        },
        async useGrantedResource() {
          return false;
        },
        async getResourceServerInfo(_ctx, resourceIndicator) {
          if (resourceIndicator !== TEST_API) {
            throw new errors.InvalidTarget();
          }
          return {
            scope: TEST_API_SCOPES,
            audience: TEST_API,
            accessTokenTTL: ACCESS_TOKEN_TTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },

    // Refresh tokens are issued to every client allowed the refresh_token
    // grant (native, device), whether or not offline_access was asked for.
    // Without offline_access the refresh token is tied to the login session
    // (expiresWithSession); sessions live SESSION_TTL here, so it makes no
    // difference within a test.
    async issueRefreshToken(_ctx, client) {
      return client.grantTypeAllowed('refresh_token');
    },
    // Every refresh_token grant returns a new refresh token and consumes the
    // presented one. Presenting a consumed one again is 400 invalid_grant
    // ("refresh token already used") AND revokes the whole grant, so the
    // newest refresh token (and its access tokens) stop working too.
    rotateRefreshToken: true,

    // Public clients must use PKCE, S256 only ("plain" is rejected).
    pkce: {
      methods: ['S256'],
      required(_ctx, client) {
        return client.clientAuthMethod === 'none';
      },
    },

    ttl: {
      AccessToken: ACCESS_TOKEN_TTL,
      ClientCredentials: ACCESS_TOKEN_TTL,
      AuthorizationCode: AUTHORIZATION_CODE_TTL,
      DeviceCode: DEVICE_CODE_TTL,
      IdToken: ID_TOKEN_TTL,
      RefreshToken: REFRESH_TOKEN_TTL,
      Interaction: INTERACTION_TTL,
      Session: SESSION_TTL,
      Grant: GRANT_TTL,
    },

    // The default is 15 s of tolerance when checking timestamps, which would
    // keep a 3 s access token usable at /me for 18 s. Client and server
    // share this machine's clock, so none is needed.
    clockTolerance: 0,

    cookies: {
      // Fixed per process is fine: every run starts with no sessions.
      keys: [randomUUID()],
    },

    // No browser JavaScript calls this server.
    clientBasedCORS() {
      return false;
    },

    // Error page for errors that cannot be redirected to the client
    // (e.g. an unregistered redirect_uri). tests/support/oidc.rs reports
    // the text of the <pre id="error"> element.
    async renderError(ctx, out) {
      ctx.type = 'html';
      const text = Object.entries(out).map(([k, v]) => `${k}: ${v}`).join('\n');
      ctx.body = page('oops! something went wrong', `<pre id="error">${htmlEscape(text)}</pre>`);
    },
  };
}

// Bind first so that the issuer can carry the real (possibly ephemeral) port.
let handler = (_req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = createServer((req, res) => handler(req, res));

server.on('error', (err) => {
  process.stderr.write(`oidc test server: ${err.message}\n`);
  process.exit(1);
});

server.listen(requestedPort, HOST, () => {
  const { port } = server.address();
  const issuer = `http://${HOST}:${port}`;
  const provider = new Provider(issuer, withSigningKey(withDpop(withPar(configuration()))));
  // Log 500s (bugs) to stderr; ordinary OAuth errors are responses, not logs.
  provider.on('server_error', (_ctx, err) => {
    process.stderr.write(`oidc test server: server_error: ${err?.stack ?? err}\n`);
  });
  handler = provider.callback();
  process.stdout.write(`ISSUER ${issuer}\n`);
});

// Exit promptly when the parent asks (kill_on_drop sends SIGKILL anyway).
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
