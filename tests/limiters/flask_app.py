"""Flask-Limiter (memory storage) in front of a tiny JSON API, for authed's rate-limiter tests
(tests/limiters.rs, started by tests/support/limiters.rs), served by waitress (threaded).

    python tests/limiters/flask_app.py --strategy fixed-window --limit "5 per 2 seconds"

(or the environment: STRATEGY, LIMIT). Listens on 127.0.0.1, port 0 (the OS picks), and
prints one line `LISTENING http://127.0.0.1:PORT` on stdout.

headers_enabled=True: every response of /api/ (200 and 429) carries X-RateLimit-Limit,
X-RateLimit-Remaining, X-RateLimit-Reset (epoch seconds: int(reset) + 1) and Retry-After
(delta seconds: int(that reset - now)).

Routes:
  GET  /api/<n>       rate-limited; 200 {"ok":true,"n":"<n>"} or 429
  GET  /stats         not rate-limited: {"ok":N,"refused":M,"events":[[epoch_ms,status],...]}
                      counts (and times) of the 2xx and 429 answers the limiter gave on /api/
  POST /stats/reset   zeroes the counts (not the limiter's own state)

limits' MemoryStorage: fixed-window starts a client's window at its first hit (the counter's
expiry is set to now + window when it goes from 0 to 1), the next at the first hit after
expiry; moving-window keeps one timestamp per accepted hit and admits a hit while fewer than
`limit` of them are younger than the window.
"""

import argparse
import os
import sys
import threading
import time

from flask import Flask, jsonify, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from waitress import create_server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--strategy",
        default=os.environ.get("STRATEGY", "fixed-window"),
        choices=["fixed-window", "moving-window"],
    )
    parser.add_argument("--limit", default=os.environ.get("LIMIT", "5 per 2 seconds"))
    args = parser.parse_args()

    app = Flask(__name__)
    limiter = Limiter(
        get_remote_address,
        app=app,
        strategy=args.strategy,
        storage_uri="memory://",
        headers_enabled=True,
    )

    lock = threading.Lock()
    stats = {"ok": 0, "refused": 0, "events": []}

    @app.get("/api/<n>")
    @limiter.limit(args.limit)
    def api(n: str):
        return jsonify(ok=True, n=n)

    @app.get("/stats")
    @limiter.exempt
    def get_stats():
        with lock:
            return jsonify(stats)

    @app.post("/stats/reset")
    @limiter.exempt
    def reset_stats():
        with lock:
            stats["ok"] = 0
            stats["refused"] = 0
            stats["events"] = []
            return jsonify(stats)

    # Counted when the answer is decided, before it is written, so that a /stats request sent
    # after a response was received always sees it.
    @app.after_request
    def count(response):
        if request.path.startswith("/api/"):
            with lock:
                if 200 <= response.status_code < 300:
                    stats["ok"] += 1
                elif response.status_code == 429:
                    stats["refused"] += 1
                stats["events"].append([time.time() * 1000.0, response.status_code])
        return response

    server = create_server(app, host="127.0.0.1", port=0, threads=8)
    print(f"LISTENING http://127.0.0.1:{server.effective_port}", flush=True)
    server.run()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
