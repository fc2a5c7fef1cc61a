//! Real rate-limiter software for tests, run as child processes on 127.0.0.1 (ports chosen by
//! the OS) and killed when the [`Limiter`] is dropped:
//!
//! - **express-rate-limit** 8.x (fixed window, its MemoryStore) behind express, in one of four
//!   header styles ([`HeaderStyle`]): `tests/limiters/express.mjs`. Needs Node.js >= 18 with
//!   npm; the packages (pinned in `tests/limiters/package-lock.json`) are installed by the
//!   first test that needs them with `npm ci --prefix tests/limiters`, one process at a time.
//!   `NODE` and `NPM` override the executables.
//! - **Flask-Limiter** (fixed or moving window, memory storage, `headers_enabled=True`) served
//!   by waitress: `tests/limiters/flask_app.py`. Needs Python >= 3.10 with `venv` (Debian:
//!   `python3-venv`); the first test that needs it creates a virtual environment in
//!   `<target>/tmp/limiters-venv` and installs `tests/limiters/requirements.txt` into it with
//!   pip, one process at a time. `PYTHON` overrides the interpreter that creates the venv.
//! - **nginx** `limit_req` (leaky bucket, no rate-limit headers at all, refusals with 429 or
//!   503): a configuration written by [`Limiter::nginx`] into a temporary directory. When
//!   `nginx` is missing (neither `NGINX`, `PATH` nor `/usr/sbin/nginx`), it is installed with
//!   `apt-get` (as root, or with `sudo -n`), once, under a lock.
//!
//! Every server counts, on its side, the requests to `/api/` that its limiter let through and
//! those it refused, with the time of each answer: [`Limiter::stats`].
//!
//! ```ignore
//! #[path = "support/limiters.rs"]
//! mod limiters;
//!
//! let server = limiters::Limiter::express(HeaderStyle::Draft8, 5, Duration::from_secs(2)).await;
//! let client = authed::Client::builder(server.url()).build()?;
//! client.get("api/1").send().await?;
//! let stats = server.stats().await;
//! ```
//!
//! A server that cannot be had fails the test with the fix; the only way around that is to
//! opt out with `AUTHED_TEST_SKIP=limiters` and run `bash scripts/test.sh`, which then filters
//! these tests out (they are in modules named `needs_limiters`) and counts them as skipped.

#![allow(dead_code)]

#[path = "apt.rs"]
mod apt;
#[path = "lock.rs"]
mod lock;
#[path = "npm.rs"]
mod npm;
#[path = "output.rs"]
mod output;
#[path = "tempdir.rs"]
mod tempdir;

use std::{
    ffi::OsString,
    fmt,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tokio::process::{Child, Command};

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Timeout of one request to a server's `/stats` (or nginx's `/health`).
const STATS_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts at starting nginx on a port another process took in the meantime.
const NGINX_PORT_ATTEMPTS: usize = 3;

/// The rate-limit headers express-rate-limit sends (its `standardHeaders` and
/// `legacyHeaders` options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderStyle {
    /// `standardHeaders: 'draft-8'`: `RateLimit: "5-in-2sec"; r=4; t=2` and
    /// `RateLimit-Policy: "5-in-2sec"; q=5; w=2; pk=:...:`.
    Draft8,
    /// `standardHeaders: 'draft-7'`: `RateLimit: limit=5, remaining=4, reset=2` and
    /// `RateLimit-Policy: 5;w=2`.
    Draft7,
    /// `standardHeaders: 'draft-6'`: `RateLimit-Limit`, `RateLimit-Remaining`,
    /// `RateLimit-Reset` (delta seconds) and `RateLimit-Policy: 5;w=2`.
    Draft6,
    /// `legacyHeaders: true` alone: `X-RateLimit-Limit`, `X-RateLimit-Remaining`,
    /// `X-RateLimit-Reset` (epoch seconds).
    Legacy,
}

impl HeaderStyle {
    fn arg(self) -> &'static str {
        match self {
            HeaderStyle::Draft8 => "draft-8",
            HeaderStyle::Draft7 => "draft-7",
            HeaderStyle::Draft6 => "draft-6",
            HeaderStyle::Legacy => "legacy",
        }
    }
}

/// Flask-Limiter's `strategy=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// `fixed-window`: a counter per window; the window starts at the client's first hit.
    FixedWindow,
    /// `moving-window`: one timestamp per accepted hit; a hit is accepted while fewer than
    /// `limit` accepted hits are younger than the window.
    MovingWindow,
}

impl Strategy {
    fn arg(self) -> &'static str {
        match self {
            Strategy::FixedWindow => "fixed-window",
            Strategy::MovingWindow => "moving-window",
        }
    }
}

/// One answer a limiter gave on `/api/`.
#[derive(Clone, Copy, Debug)]
pub struct Event {
    /// When the server decided it (its wall clock, which is this machine's).
    pub at: SystemTime,
    /// The status it answered with.
    pub status: u16,
}

/// What a limiter answered on `/api/`, counted by the server.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Answers with a 2xx status (let through).
    pub ok: u64,
    /// Answers with the limiter's refusal status ([`Limiter::refusal_status`]).
    pub refused: u64,
    /// Every answer, in the order the server gave them.
    pub events: Vec<Event>,
}

/// A running rate limiter. Killed (and its files removed) when dropped.
///
/// Start one per test: its output is drained by tasks on the runtime that started it, so it
/// should not outlive that runtime.
pub struct Limiter {
    /// Declared first: dropped (killed) before the directory its files are in is removed.
    child: Child,
    name: String,
    url: String,
    refusal: u16,
    log: output::Log,
    backend: Backend,
    http: reqwest::Client,
}

enum Backend {
    /// Serves `GET /stats` itself.
    Stats,
    /// nginx: counts come from its access log.
    Nginx {
        access_log: PathBuf,
        error_log: PathBuf,
        _dir: tempdir::TempDir,
    },
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("name", &self.name)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Limiter {
    /// express-rate-limit, fixed window of `limit` requests per `window` (whole
    /// milliseconds), headers in `style`. Fails the test, with the fix, if it cannot start.
    pub async fn express(style: HeaderStyle, limit: u32, window: Duration) -> Limiter {
        Self::start_express(style, limit, window)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "express-rate-limit is needed and could not start: {e}\n\
                     Fix: install Node.js >= 18 with npm (the tests run `npm ci --prefix \
                     tests/limiters` themselves; NODE and NPM override the executables), or opt \
                     out with AUTHED_TEST_SKIP=limiters and run `bash scripts/test.sh`, which \
                     reports these tests as skipped"
                )
            })
    }

    /// Flask-Limiter with `strategy`, `limit` requests per `window` (whole seconds), headers
    /// enabled. Fails the test, with the fix, if it cannot start.
    pub async fn flask(strategy: Strategy, limit: u32, window: Duration) -> Limiter {
        Self::start_flask(strategy, limit, window)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "Flask-Limiter is needed and could not start: {e}\n\
                     Fix: install Python >= 3.10 with venv and pip (Debian: `apt-get install \
                     python3-venv`; PYTHON overrides the interpreter; the tests create the venv \
                     and `pip install -r tests/limiters/requirements.txt` themselves, which needs \
                     network access to PyPI once), or opt out with AUTHED_TEST_SKIP=limiters and \
                     run `bash scripts/test.sh`, which reports these tests as skipped"
                )
            })
    }

    /// nginx `limit_req`: `rate_per_s` requests per second, `burst` more at once, `nodelay`,
    /// refusals answered with `status` (429 or 503) and no rate-limit header. Fails the test,
    /// with the fix, if it cannot start.
    pub async fn nginx(rate_per_s: u32, burst: u32, status: u16) -> Limiter {
        Self::start_nginx(rate_per_s, burst, status)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "nginx is needed and could not start: {e}\n\
                     Fix: install nginx (Debian: `apt-get install nginx`; the tests do it \
                     themselves when run as root or with password-less sudo) or set NGINX to its \
                     path, or opt out with AUTHED_TEST_SKIP=limiters and run \
                     `bash scripts/test.sh`, which reports these tests as skipped"
                )
            })
    }

    /// `http://127.0.0.1:PORT`, no trailing slash; the limited routes are `/api/{n}`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What is running, e.g. `express-rate-limit 8 (draft-8), 5 per 2s`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The status the limiter refuses with (429, or nginx's `limit_req_status`).
    pub fn refusal_status(&self) -> u16 {
        self.refusal
    }

    /// What the server wrote to stdout/stderr (and, for nginx, its error log), for failure
    /// messages.
    pub fn logs(&self) -> String {
        let mut logs = self.log.snapshot();
        if let Backend::Nginx { error_log, .. } = &self.backend {
            logs.push_str(&std::fs::read_to_string(error_log).unwrap_or_default());
        }
        logs
    }

    /// What the limiter answered on `/api/` so far, counted on the server's side.
    pub async fn stats(&self) -> Stats {
        self.try_stats().await.unwrap_or_else(|e| {
            panic!(
                "reading the counts of {}: {e}; its output:\n{}",
                self.name,
                self.logs()
            )
        })
    }

    async fn try_stats(&self) -> Result<Stats, String> {
        match &self.backend {
            Backend::Stats => {
                #[derive(serde::Deserialize)]
                struct Raw {
                    ok: u64,
                    refused: u64,
                    events: Vec<(f64, u16)>,
                }
                let url = format!("{}/stats", self.url);
                let response = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| format!("GET {url}: {e}"))?;
                let status = response.status();
                let body = response
                    .text()
                    .await
                    .map_err(|e| format!("GET {url}: {e}"))?;
                if !status.is_success() {
                    return Err(format!("GET {url}: {status}: {body}"));
                }
                let raw: Raw =
                    serde_json::from_str(&body).map_err(|e| format!("GET {url}: {e} in {body}"))?;
                Ok(Stats {
                    ok: raw.ok,
                    refused: raw.refused,
                    events: raw
                        .events
                        .into_iter()
                        .map(|(ms, status)| Event {
                            at: UNIX_EPOCH + Duration::from_secs_f64(ms / 1000.0),
                            status,
                        })
                        .collect(),
                })
            }
            Backend::Nginx { access_log, .. } => {
                let text = tokio::fs::read_to_string(access_log)
                    .await
                    .map_err(|e| format!("reading {}: {e}", access_log.display()))?;
                parse_access_log(&text, self.refusal)
            }
        }
    }

    async fn start_express(
        style: HeaderStyle,
        limit: u32,
        window: Duration,
    ) -> Result<Limiter, String> {
        let root = root();
        tokio::task::spawn_blocking(move || npm_ci(root))
            .await
            .map_err(|e| format!("installing the packages panicked: {e}"))??;
        let node = env_or("NODE", "node");
        let mut command = Command::new(&node);
        command
            .arg(Path::new("tests").join("limiters").join("express.mjs"))
            .args(["--limit", &limit.to_string()])
            .args(["--window-ms", &window.as_millis().to_string()])
            .args(["--headers", style.arg()])
            .current_dir(root);
        let name = format!(
            "express-rate-limit 8 ({}), {limit} per {window:?}",
            style.arg()
        );
        let (child, url, log) =
            output::spawn_announcing(command, &node, &name, "LISTENING ", START_TIMEOUT).await?;
        Ok(Limiter {
            child,
            name,
            url,
            refusal: 429,
            log,
            backend: Backend::Stats,
            http: http_client()?,
        })
    }

    async fn start_flask(
        strategy: Strategy,
        limit: u32,
        window: Duration,
    ) -> Result<Limiter, String> {
        if window.subsec_nanos() != 0 || window.is_zero() {
            return Err(format!(
                "the window {window:?} is not a whole number of seconds"
            ));
        }
        let root = root();
        let python = tokio::task::spawn_blocking(move || venv(root))
            .await
            .map_err(|e| format!("creating the venv panicked: {e}"))??;
        let quota = format!("{limit} per {} seconds", window.as_secs());
        let mut command = Command::new(&python);
        command
            .arg(Path::new("tests").join("limiters").join("flask_app.py"))
            .args(["--strategy", strategy.arg()])
            .args(["--limit", &quota])
            .env("PYTHONUNBUFFERED", "1")
            .current_dir(root);
        let name = format!("Flask-Limiter ({}), {quota}", strategy.arg());
        let (child, url, log) = output::spawn_announcing(
            command,
            python.as_os_str(),
            &name,
            "LISTENING ",
            START_TIMEOUT,
        )
        .await?;
        Ok(Limiter {
            child,
            name,
            url,
            refusal: 429,
            log,
            backend: Backend::Stats,
            http: http_client()?,
        })
    }

    async fn start_nginx(rate_per_s: u32, burst: u32, status: u16) -> Result<Limiter, String> {
        if !(400..600).contains(&status) {
            return Err(format!("limit_req_status {status}: nginx takes 400 to 599"));
        }
        let nginx = tokio::task::spawn_blocking(nginx_binary)
            .await
            .map_err(|e| format!("looking for nginx panicked: {e}"))??;
        let dir = tempdir::TempDir::new("nginx");
        let www = dir.path().join("www");
        std::fs::create_dir_all(&www).map_err(|e| format!("creating {}: {e}", www.display()))?;
        std::fs::write(www.join("ok.json"), "{\"ok\":true}\n")
            .map_err(|e| format!("writing ok.json: {e}"))?;
        let access_log = dir.path().join("access.log");
        let error_log = dir.path().join("error.log");
        let token = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("nginx limit_req {rate_per_s}r/s burst={burst} nodelay, {status}");
        let http = http_client()?;

        let mut last_error = String::new();
        for _ in 0..NGINX_PORT_ATTEMPTS {
            let port = free_port()?;
            let conf = dir.path().join("nginx.conf");
            std::fs::write(
                &conf,
                nginx_conf(dir.path(), port, rate_per_s, burst, status, &token),
            )
            .map_err(|e| format!("writing {}: {e}", conf.display()))?;
            let _ = std::fs::remove_file(&error_log);
            let mut child = Command::new(&nginx)
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(&error_log)
                .arg("-g")
                .arg(format!(
                    "daemon off; pid {};",
                    dir.path().join("nginx.pid").display()
                ))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => format!("`{}` not found", nginx.display()),
                    _ => format!("could not run `{}`: {e}", nginx.display()),
                })?;
            let log = output::Log::default();
            log.drain(child.stdout.take().expect("stdout is piped"));
            log.drain(child.stderr.take().expect("stderr is piped"));
            let url = format!("http://127.0.0.1:{port}");

            let started = tokio::time::Instant::now();
            let outcome = loop {
                if let Ok(Some(exit)) = child.try_wait() {
                    // Let the drain tasks catch the last lines.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let errors = std::fs::read_to_string(&error_log).unwrap_or_default();
                    break Err((exit.to_string(), format!("{}{errors}", log.snapshot())));
                }
                if let Ok(response) = http.get(format!("{url}/health")).send().await
                    && response.text().await.is_ok_and(|body| body == token)
                {
                    break Ok(());
                }
                if started.elapsed() > START_TIMEOUT {
                    let _ = child.start_kill();
                    let errors = std::fs::read_to_string(&error_log).unwrap_or_default();
                    return Err(format!(
                        "{name} did not answer on {url} within {START_TIMEOUT:?}; its output:\n{}{errors}",
                        log.snapshot()
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            match outcome {
                Ok(()) => {
                    return Ok(Limiter {
                        child,
                        name,
                        url,
                        refusal: status,
                        log,
                        backend: Backend::Nginx {
                            access_log,
                            error_log,
                            _dir: dir,
                        },
                        http,
                    });
                }
                Err((exit, output)) => {
                    last_error = format!("{name} exited ({exit}); its output:\n{output}");
                    // Another process took the port between our probe and nginx's bind: again.
                    if !output.contains("Address already in use") {
                        break;
                    }
                }
            }
        }
        Err(last_error)
    }
}

/// The nginx configuration: one `limit_req` zone keyed by client address, a location `/api/`
/// under it, and `/health` (not limited) answering `token` so that the harness knows it talks
/// to this nginx.
///
/// `/api/` serves a static file through `try_files`, not `return 200 ...`: `return` runs in
/// nginx's rewrite phase, before `limit_req`'s preaccess phase, so a location answering with
/// `return` is never limited. `master_process off`: one process, which dies with the
/// `SIGKILL` of `kill_on_drop` (a master killed that way would leave its worker running).
/// Every path nginx writes to is in `dir`, so that it runs as any user.
fn nginx_conf(dir: &Path, port: u16, rate: u32, burst: u32, status: u16, token: &str) -> String {
    let d = dir.display();
    let user = if is_root() { "user root;\n" } else { "" };
    format!(
        r#"# Written by tests/support/limiters.rs.
{user}master_process off;
worker_processes 1;
events {{
    worker_connections 256;
}}
http {{
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    log_format limiters '$msec $status $request_uri';
    access_log {d}/access.log limiters;
    limit_req_zone $binary_remote_addr zone=z:1m rate={rate}r/s;
    limit_req_status {status};
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        default_type application/json;
        location /api/ {{
            limit_req zone=z burst={burst} nodelay;
            try_files /ok.json =500;
        }}
        location = /health {{
            access_log off;
            return 200 '{token}';
        }}
    }}
}}
"#
    )
}

/// The `/api/` lines of an access log in the `limiters` format (`$msec $status $request_uri`).
fn parse_access_log(text: &str, refusal: u16) -> Result<Stats, String> {
    let mut stats = Stats::default();
    for line in text.lines() {
        let mut fields = line.split(' ');
        let (Some(msec), Some(status), Some(uri)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(format!("unexpected access log line {line:?}"));
        };
        if !uri.starts_with("/api/") {
            continue;
        }
        let secs: f64 = msec
            .parse()
            .map_err(|e| format!("bad $msec in {line:?}: {e}"))?;
        let status: u16 = status
            .parse()
            .map_err(|e| format!("bad $status in {line:?}: {e}"))?;
        if (200..300).contains(&status) {
            stats.ok += 1;
        } else if status == refusal {
            stats.refused += 1;
        }
        stats.events.push(Event {
            at: UNIX_EPOCH + Duration::from_secs_f64(secs),
            status,
        });
    }
    Ok(stats)
}

// ---------------------------------------------------------------------------
// Installing what the servers need, once, under a lock

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn env_or(var: &str, default: &str) -> OsString {
    std::env::var_os(var).unwrap_or_else(|| default.into())
}

fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(STATS_TIMEOUT)
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))
}

/// Runs `npm ci --prefix tests/limiters` unless it has been done; one process at a time.
fn npm_ci(root: &Path) -> Result<(), String> {
    npm::ci(root, "tests/limiters", "express-rate-limit")
}

/// The venv's Python, with `tests/limiters/requirements.txt` installed: creates
/// `<target>/tmp/limiters-venv` and runs pip unless that was done with the same requirements
/// (a copy of them in the venv says so); one process at a time.
fn venv(root: &Path) -> Result<PathBuf, String> {
    let requirements = root.join("tests").join("limiters").join("requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .map_err(|e| format!("reading {}: {e}", requirements.display()))?;
    let venv = lock::dir().join("limiters-venv");
    let python = venv.join("bin").join("python");
    let marker = venv.join("authed-requirements.txt");
    let done = || std::fs::read_to_string(&marker).is_ok_and(|had| had == wanted);
    if done() {
        return Ok(python);
    }
    let _lock = lock::exclusive("limiters-venv")?;
    if done() {
        return Ok(python);
    }
    let run = |program: &std::ffi::OsStr, args: &[&std::ffi::OsStr]| {
        let shown = format!(
            "`{} {}`",
            program.to_string_lossy(),
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let output = std::process::Command::new(program)
            .args(args)
            .current_dir(root)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => format!("{shown}: not found"),
                _ => format!("could not run {shown}: {e}"),
            })?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{shown} failed ({}):\n{}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    };
    if !python.is_file() {
        // A venv that failed half-way (no ensurepip, say) is started again.
        let _ = std::fs::remove_dir_all(&venv);
        let interpreter = env_or("PYTHON", "python3");
        run(
            &interpreter,
            &["-m".as_ref(), "venv".as_ref(), venv.as_os_str()],
        )
        .map_err(|e| {
            format!(
                "{e}\n(Python 3.10 or later is needed; on Debian/Ubuntu `python3 -m venv` also \
                 needs the python3-venv package)"
            )
        })?;
    }
    run(
        python.as_os_str(),
        &[
            "-m".as_ref(),
            "pip".as_ref(),
            "install".as_ref(),
            "--disable-pip-version-check".as_ref(),
            "--no-input".as_ref(),
            "--quiet".as_ref(),
            "-r".as_ref(),
            requirements.as_os_str(),
        ],
    )?;
    std::fs::write(&marker, &wanted).map_err(|e| format!("writing {}: {e}", marker.display()))?;
    Ok(python)
}

/// `NGINX`, else `nginx` on `PATH` or in `/usr/sbin`; installed with apt-get if none is.
fn nginx_binary() -> Result<PathBuf, String> {
    apt::program("nginx", "nginx", "NGINX")
}

fn is_root() -> bool {
    apt::is_root()
}

/// A loopback port that was free a moment ago (the OS picked it for a listener we dropped).
fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("binding 127.0.0.1:0: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("reading the port: {e}"))
}
