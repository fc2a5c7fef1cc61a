// express-rate-limit (fixed window, its default MemoryStore) in front of a tiny JSON API, for
// authed's rate-limiter tests (tests/limiters.rs, started by tests/support/limiters.rs).
//
//     node tests/limiters/express.mjs --limit 5 --window-ms 2000 --headers draft-8
//
// (or the environment: LIMIT, WINDOW_MS, HEADERS). Listens on 127.0.0.1, port 0 (the OS
// picks), and prints one line `LISTENING http://127.0.0.1:PORT` on stdout.
//
// Header styles:
//   draft-8  standardHeaders: 'draft-8', legacyHeaders: false
//            RateLimit: "<id>"; r=R; t=T   RateLimit-Policy: "<id>"; q=L; w=W; pk=:...:
//   draft-7  standardHeaders: 'draft-7', legacyHeaders: false
//            RateLimit: limit=L, remaining=R, reset=T   RateLimit-Policy: L;w=W
//   draft-6  standardHeaders: 'draft-6', legacyHeaders: false
//            RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy: L;w=W
//   legacy   standardHeaders: false, legacyHeaders: true
//            X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset (epoch seconds)
// In every style a 429 also carries Retry-After (delta seconds); 200s do not.
//
// Routes:
//   GET  /api/:n        rate-limited; 200 {"ok":true,"n":"<n>"} or 429 (express-rate-limit's)
//   GET  /stats         not rate-limited: {"ok":N,"refused":M,"events":[[epoch_ms,status],...]}
//                       counts (and times) of the 2xx and 429 answers the limiter gave on /api/
//   POST /stats/reset   zeroes the counts (not the limiter's own state)
//
// MemoryStore (express-rate-limit 8.x, source/memory-store.ts): a client's window starts at
// its first hit (resetTime = now + windowMs) and the next one at its first hit after
// resetTime: windows are not aligned to the clock. Refused hits are counted too, but do not
// move resetTime.

import express from 'express';
import { rateLimit } from 'express-rate-limit';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    limit: { type: 'string', default: process.env.LIMIT ?? '5' },
    'window-ms': { type: 'string', default: process.env.WINDOW_MS ?? '2000' },
    headers: { type: 'string', default: process.env.HEADERS ?? 'draft-8' },
  },
});

const limit = Number(values.limit);
const windowMs = Number(values['window-ms']);
if (!Number.isInteger(limit) || limit < 1 || !Number.isInteger(windowMs) || windowMs < 1) {
  console.error(`bad --limit ${values.limit} or --window-ms ${values['window-ms']}`);
  process.exit(2);
}
const styles = {
  'draft-8': { standardHeaders: 'draft-8', legacyHeaders: false },
  'draft-7': { standardHeaders: 'draft-7', legacyHeaders: false },
  'draft-6': { standardHeaders: 'draft-6', legacyHeaders: false },
  legacy: { standardHeaders: false, legacyHeaders: true },
};
const style = styles[values.headers];
if (!style) {
  console.error(`bad --headers ${values.headers}: one of ${Object.keys(styles).join(', ')}`);
  process.exit(2);
}

// Counted when the answer is decided, before it is written, so that a /stats request sent
// after a response was received always sees it.
const stats = { ok: 0, refused: 0, events: [] };
const now = () => performance.timeOrigin + performance.now();

const limiter = rateLimit({
  windowMs,
  limit,
  ...style,
  handler(req, res, next, options) {
    stats.refused += 1;
    stats.events.push([now(), options.statusCode]);
    res.status(options.statusCode).send(options.message);
  },
});

const app = express();
app.disable('x-powered-by');
app.get('/stats', (req, res) => res.json(stats));
app.post('/stats/reset', (req, res) => {
  stats.ok = 0;
  stats.refused = 0;
  stats.events = [];
  res.json(stats);
});
app.get('/api/:n', limiter, (req, res) => {
  stats.ok += 1;
  stats.events.push([now(), 200]);
  res.json({ ok: true, n: req.params.n });
});

const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  console.log(`LISTENING http://127.0.0.1:${port}`);
});
server.on('error', (e) => {
  console.error(`listen failed: ${e.message}`);
  process.exit(1);
});
// The harness kills this process when its test ends; stop cleanly on SIGTERM too.
process.on('SIGTERM', () => process.exit(0));
