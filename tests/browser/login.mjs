// Plays a person at a browser for authed's browser login tests (cli/tests/browser.rs): drives
// an already running headless Chromium over the DevTools protocol (chrome-remote-interface),
// through node-oidc-provider's devInteractions pages (tests/oidc/server.mjs), to the page the
// application's loopback listener answers with.
//
//   node tests/browser/login.mjs --port DEVTOOLS_PORT --url AUTHORIZE_URL --user ada \
//     --choice approve|deny --screenshot OUT.png [--timeout-ms 45000]
//
// It opens the URL, signs in as the user (devInteractions takes any name; the password is
// ignored), approves the consent page or cancels it, and waits for the first page that is not
// on the authorization server (the redirect to the loopback listener). There it takes a
// screenshot and prints one line of JSON on stdout: {"url", "title", "text", "html"}. Every wait
// is bounded; on failure it prints the reason and the page it was on to stderr and exits 1.

import { writeFileSync } from 'node:fs';
import CDP from 'chrome-remote-interface';

function args(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) {
      throw new Error(`usage: login.mjs --port N --url URL --user NAME --choice approve|deny --screenshot FILE (at ${argv[i]})`);
    }
    out[argv[i].slice(2)] = argv[i + 1];
  }
  for (const required of ['port', 'url', 'user', 'choice', 'screenshot']) {
    if (out[required] === undefined) {
      throw new Error(`missing --${required}`);
    }
  }
  if (!['approve', 'deny'].includes(out.choice)) {
    throw new Error(`--choice is approve or deny, not ${out.choice}`);
  }
  return out;
}

const opts = args(process.argv.slice(2));
const TIMEOUT_MS = Number(opts['timeout-ms'] ?? 45000);
// One page's load: the loopback page comes only after the application exchanged the code.
const STEP_TIMEOUT_MS = 20000;
// Login, consent, and the redirect, with room to spare.
const MAX_STEPS = 8;

const issuer = new URL(opts.url).origin;
const deadline = Date.now() + TIMEOUT_MS;

function bounded(promise, what, ms = Math.max(0, Math.min(STEP_TIMEOUT_MS, deadline - Date.now()))) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

let client;
try {
  client = await bounded(CDP({ host: '127.0.0.1', port: Number(opts.port) }), 'connecting to Chromium');
  const { Page, Runtime } = client;
  await Page.enable();

  const evaluate = async (expression) => {
    const { result, exceptionDetails } = await bounded(
      Runtime.evaluate({ expression, returnByValue: true }),
      'evaluating in the page',
    );
    if (exceptionDetails) {
      throw new Error(`${expression}: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
    }
    return result.value;
  };
  // Does `action` and waits for the page it leads to.
  const andWait = async (what, action) => {
    const loaded = Page.loadEventFired();
    await action();
    await bounded(loaded, what);
  };
  const here = () => evaluate('location.href');
  const pageText = () => evaluate('document.body ? document.body.innerText : ""');

  await andWait(`opening ${opts.url}`, () => Page.navigate({ url: opts.url }));
  let done = false;
  for (let step = 0; step < MAX_STEPS && !done; step += 1) {
    const url = await here();
    if (new URL(url).origin !== issuer) {
      done = true;
      break;
    }
    const prompt = await evaluate(
      "(document.querySelector('form input[name=prompt]') || {}).value || ''",
    );
    if (prompt === 'login') {
      await andWait('signing in', () => evaluate(`(() => {
        document.querySelector('input[name=login]').value = ${JSON.stringify(opts.user)};
        document.querySelector('input[name=password]').value = 'any password';
        document.querySelector('form button[type=submit]').click();
      })()`));
    } else if (prompt === 'consent' && opts.choice === 'approve') {
      await andWait('approving', () => evaluate("document.querySelector('form button[type=submit]').click()"));
    } else if (prompt === 'consent') {
      await andWait('cancelling', () => evaluate(`(() => {
        const abort = [...document.querySelectorAll('a')].find((a) => a.href.endsWith('/abort'));
        if (!abort) throw new Error('no [ Cancel ] link on the consent page');
        abort.click();
      })()`));
    } else {
      throw new Error(`unexpected page ${url}:\n${await pageText()}`);
    }
  }
  if (!done) {
    throw new Error(`still on the authorization server after ${MAX_STEPS} pages: ${await here()}\n${await pageText()}`);
  }
  const { data } = await bounded(Page.captureScreenshot({ format: 'png' }), 'taking a screenshot');
  writeFileSync(opts.screenshot, Buffer.from(data, 'base64'));
  const page = {
    url: await here(),
    title: await evaluate('document.title'),
    text: await pageText(),
    html: await evaluate('document.documentElement.outerHTML'),
  };
  process.stdout.write(`${JSON.stringify(page)}\n`);
  await client.close();
  process.exit(0);
} catch (err) {
  process.stderr.write(`browser driver: ${err?.stack ?? err}\n`);
  if (client) {
    try {
      const { result } = await bounded(
        client.Runtime.evaluate({ expression: 'location.href + "\\n" + (document.body ? document.body.innerText : "")', returnByValue: true }),
        'reading the page',
        3000,
      );
      process.stderr.write(`on the page: ${result.value}\n`);
    } catch {
      // The page is gone too.
    }
  }
  process.exit(1);
}
