//! A real `redis-server` for the fleet tests: started on a loopback port chosen by the OS,
//! with a directory of its own (no persistence), killed when the [`RedisServer`] is dropped.
//! Missing `redis-server` (neither `REDIS_SERVER`, `PATH` nor `/usr/sbin`) is installed with
//! apt-get (Debian package `redis-server`), once, under a lock. A server that cannot be had
//! fails the test with the fix.
//!
//! ```ignore
//! #[path = "support/redis.rs"]
//! mod redis_server;
//!
//! let redis = redis_server::RedisServer::start("fleet").await;
//! let fleet = authed::fleet::Fleet::new(redis.url())?;
//! redis.kill();              // Redis gone mid-run
//! redis.restart().await;     // back, same port, empty
//! ```
//!
//! [`RedisServer::with_acl_user`] adds an ACL user with a password and turns the default user
//! off, for the credentials-in-the-URL case.
//!
//! [`RedisCluster::start`] starts a Redis Cluster of three primaries (no replicas), each a
//! [`RedisServer`] with `cluster-enabled yes`, joined by `redis-cli --cluster create` (Debian
//! package `redis-tools`, installed the same way when missing), and waits until every node
//! says `cluster_state:ok`:
//!
//! ```ignore
//! let cluster = redis_server::RedisCluster::start("fleet-cluster").await;
//! let fleet = authed::fleet::Fleet::cluster(cluster.urls())?;
//! let node = cluster.owner("authed:{scope}:tat"); // the index of the node holding it
//! ```
#![allow(dead_code)]

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

#[path = "apt.rs"]
mod apt;
#[path = "lock.rs"]
mod lock;

/// How long a started server may take to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `redis-server`.
pub struct RedisServer {
    binary: PathBuf,
    dir: PathBuf,
    port: u16,
    /// `(user, password)` of the ACL user, when the default user is off.
    acl: Option<(String, String)>,
    /// More lines of configuration (a cluster node's).
    extra_conf: String,
    /// TLS only (`rediss://`), with a certificate of the test's own CA ([`RedisServer::with_tls`]).
    tls: bool,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server with the default user (no password). Panics with the fix when it
    /// cannot.
    pub async fn start(name: &str) -> Self {
        Self::start_with(name, None).await
    }

    /// Starts a server whose only user is `user` with `password` (the default user is off).
    pub async fn with_acl_user(name: &str, user: &str, password: &str) -> Self {
        Self::start_with(name, Some((user.to_owned(), password.to_owned()))).await
    }

    async fn start_with(name: &str, acl: Option<(String, String)>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_configured(name, acl, port, String::new()).await
    }

    /// Starts a server that speaks TLS only (`rediss://`, no plain port), with a certificate
    /// for `127.0.0.1` from a certificate authority made for it (`openssl`, apt-installed when
    /// missing): [`RedisServer::ca_pem`] is what a client must trust.
    pub async fn with_tls(name: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!(
            "authed-redis-tls-{name}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let certs = dir.clone();
        tokio::task::spawn_blocking(move || make_certificates(&certs))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("the TLS test needs certificates: {e}"));
        let conf = format!(
            "tls-port {port}\ntls-cert-file {d}/server.crt\ntls-key-file {d}/server.key\n\
             tls-ca-cert-file {d}/ca.crt\ntls-auth-clients no\n",
            d = dir.display()
        );
        let mut server = Self::start_unlaunched(name, None, port, conf).await;
        server.tls = true;
        let _ = std::fs::remove_dir_all(&server.dir);
        server.dir = dir;
        server.launch().await;
        server
    }

    /// The certificate authority of a [`RedisServer::with_tls`] server, PEM.
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("ca.crt")).unwrap()
    }

    async fn start_configured(
        name: &str,
        acl: Option<(String, String)>,
        port: u16,
        extra_conf: String,
    ) -> Self {
        let mut server = Self::start_unlaunched(name, acl, port, extra_conf).await;
        server.launch().await;
        server
    }

    async fn start_unlaunched(
        name: &str,
        acl: Option<(String, String)>,
        port: u16,
        extra_conf: String,
    ) -> Self {
        let binary = tokio::task::spawn_blocking(|| {
            apt::program("redis-server", "redis-server", "REDIS_SERVER")
        })
        .await
        .unwrap()
        .unwrap_or_else(|e| {
            panic!(
                "the fleet tests need redis-server: {e}\n\
                 Fix: install it (Debian: `apt-get install redis-server`), or set REDIS_SERVER \
                 to its path."
            )
        });
        let dir = std::env::temp_dir().join(format!(
            "authed-redis-{name}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            binary,
            dir,
            port,
            acl,
            extra_conf,
            tls: false,
            child: None,
        }
    }

    /// `redis://127.0.0.1:<port>/`, with the ACL user's credentials when there is one.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        match &self.acl {
            Some((user, password)) => {
                format!("{scheme}://{user}:{password}@127.0.0.1:{}/", self.port)
            }
            None => format!("{scheme}://127.0.0.1:{}/", self.port),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server at once (SIGKILL: no shutdown, as a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: nothing is persisted; a cluster node
    /// keeps its identity and slots, from its `nodes.conf`).
    pub async fn restart(&mut self) {
        self.kill();
        self.launch().await;
    }

    /// Runs one command (RESP, inline) and returns the raw reply: for tests that read what is
    /// stored without going through the library.
    pub fn command(&self, args: &[&str]) -> Vec<u8> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut request = Vec::new();
        if let Some((user, password)) = &self.acl {
            request.extend(resp(&["AUTH", user, password]));
        }
        request.extend(resp(args));
        request.extend(resp(&["QUIT"]));
        stream.write_all(&request).unwrap();
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply);
        reply
    }

    async fn launch(&mut self) {
        // A TLS server has no plain port (its `tls-port` is in the extra configuration).
        let plain_port = if self.tls { 0 } else { self.port };
        let mut conf = format!(
            "bind 127.0.0.1\nport {}\ndir {}\nsave \"\"\nappendonly no\ndaemonize no\n\
             protected-mode yes\nlogfile \"\"\n",
            plain_port,
            self.dir.display()
        );
        conf.push_str(&self.extra_conf);
        if let Some((user, password)) = &self.acl {
            conf.push_str(&format!(
                "user default off\nuser {user} on >{password} ~* &* +@all\n"
            ));
        }
        let conf_path = self.dir.join("redis.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let log = std::fs::File::create(self.dir.join("redis.log")).unwrap();
        let child = Command::new(&self.binary)
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", self.binary.display()));
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if self.pings() {
                return;
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "redis-server exited at start ({status}):\n{}",
                    self.log_text()
                );
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "redis-server did not answer PING within {START_TIMEOUT:?}:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn pings(&self) -> bool {
        if self.tls {
            // No plain PING on a TLS port: the log says when it listens.
            return self.log_text().contains("Ready to accept connections");
        }
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        // PING answers +PONG, or -NOAUTH when the default user is off: either way it is up.
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 64];
        matches!(stream.read(&mut buf), Ok(n) if n > 0 && (buf[0] == b'+' || buf[0] == b'-'))
    }

    /// The server's log (for failure messages).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One command in RESP.
fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend(format!("${}\r\n", arg.len()).into_bytes());
        out.extend(arg.as_bytes());
        out.extend(b"\r\n");
    }
    out
}

/// How long a new cluster may take to say `cluster_state:ok` on every node.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);

/// The primaries of a test cluster.
const CLUSTER_NODES: usize = 3;

/// A running Redis Cluster of three primaries on 127.0.0.1 (no replicas), killed when
/// dropped.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts a cluster whose nodes have the default user (no password). Panics with the fix
    /// when it cannot.
    pub async fn start(name: &str) -> Self {
        Self::start_with(name, None).await
    }

    /// Starts a cluster whose nodes' only user is `user` with `password`.
    pub async fn with_acl_user(name: &str, user: &str, password: &str) -> Self {
        Self::start_with(name, Some((user.to_owned(), password.to_owned()))).await
    }

    async fn start_with(name: &str, acl: Option<(String, String)>) -> Self {
        let cli =
            tokio::task::spawn_blocking(|| apt::program("redis-cli", "redis-tools", "REDIS_CLI"))
                .await
                .unwrap()
                .unwrap_or_else(|e| {
                    panic!(
                        "the cluster tests need redis-cli: {e}\n\
                 Fix: install it (Debian: `apt-get install redis-tools`), or set REDIS_CLI to \
                 its path."
                    )
                });
        let mut nodes = Vec::new();
        for i in 0..CLUSTER_NODES {
            let port = cluster_port();
            // The default node timeout (15 s): a node restarted by a test within that is not
            // declared failed by the others.
            let conf = "cluster-enabled yes\ncluster-config-file nodes.conf\n".to_owned();
            nodes.push(
                RedisServer::start_configured(&format!("{name}-{i}"), acl.clone(), port, conf)
                    .await,
            );
        }
        let cluster = Self { nodes };
        let mut create = Command::new(&cli);
        create.arg("--cluster").arg("create");
        for node in &cluster.nodes {
            create.arg(format!("127.0.0.1:{}", node.port));
        }
        create.args(["--cluster-replicas", "0", "--cluster-yes"]);
        if let Some((user, password)) = &acl {
            create.args(["--user", user, "--pass", password, "--no-auth-warning"]);
        }
        let output = tokio::task::spawn_blocking(move || create.stdin(Stdio::null()).output())
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("could not run {}: {e}", cli.display()));
        assert!(
            output.status.success(),
            "`redis-cli --cluster create` failed ({}):\n{}\n{}\nnode 0's log:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            cluster.nodes[0].log_text()
        );
        cluster.wait_ok().await;
        cluster
    }

    /// Waits (bounded) until every node answers `CLUSTER INFO` with `cluster_state:ok`.
    pub async fn wait_ok(&self) {
        let started = Instant::now();
        loop {
            let states: Vec<String> = self
                .nodes
                .iter()
                .map(|node| {
                    let info = node.command(&["CLUSTER", "INFO"]);
                    String::from_utf8_lossy(&info)
                        .lines()
                        .find(|l| l.starts_with("cluster_state:"))
                        .unwrap_or("no cluster_state")
                        .to_owned()
                })
                .collect();
            if states.iter().all(|s| s == "cluster_state:ok") {
                return;
            }
            assert!(
                started.elapsed() < CLUSTER_TIMEOUT,
                "the cluster is not ok after {CLUSTER_TIMEOUT:?}: {states:?}\nnode 0's log:\n{}",
                self.nodes[0].log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every node's URL (`redis://[user:password@]127.0.0.1:<port>/`).
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Node `i`, to kill and restart.
    pub fn node_mut(&mut self, i: usize) -> &mut RedisServer {
        &mut self.nodes[i]
    }

    /// `CLUSTER KEYSLOT key`: the slot of `key` (the hash of its hash tag, if it has one).
    pub fn keyslot(&self, key: &str) -> u16 {
        let reply = self.nodes[0].command(&["CLUSTER", "KEYSLOT", key]);
        let reply = String::from_utf8_lossy(&reply);
        reply
            .strip_prefix(':')
            .and_then(|r| r.split("\r\n").next())
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("CLUSTER KEYSLOT {key}: {reply}"))
    }

    /// The index of the node that holds `key`'s slot: the one that does not answer `MOVED`.
    pub fn owner(&self, key: &str) -> usize {
        self.nodes
            .iter()
            .position(|node| !node.command(&["TYPE", key]).starts_with(b"-MOVED"))
            .unwrap_or_else(|| panic!("no node owns the slot of {key}"))
    }

    /// Runs one command on the node that holds `key` (see [`RedisServer::command`]).
    pub fn command_for(&self, key: &str, args: &[&str]) -> Vec<u8> {
        self.nodes[self.owner(key)].command(args)
    }

    /// The keys matching `pattern` on node `i` (RESP bulk strings of a `KEYS` reply).
    pub fn keys_on(&self, i: usize, pattern: &str) -> Vec<String> {
        let reply = self.nodes[i].command(&["KEYS", pattern]);
        let reply = String::from_utf8_lossy(&reply);
        let mut lines = reply.split("\r\n");
        let mut keys = Vec::new();
        while let Some(line) = lines.next() {
            if line.starts_with('$') {
                keys.extend(lines.next().map(str::to_owned));
            }
        }
        keys
    }
}

/// A loopback port chosen by the OS whose cluster bus port (port + 10000) is free too.
fn cluster_port() -> u16 {
    for _ in 0..200 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let Some(bus) = port.checked_add(10_000) else {
            continue;
        };
        if std::net::TcpListener::bind(("127.0.0.1", bus)).is_ok() {
            return port;
        }
    }
    panic!("found no loopback port p with p + 10000 free too (the cluster bus port)")
}

/// A certificate authority (`ca.crt`) and a server certificate for `127.0.0.1` signed by it
/// (`server.crt`, `server.key`) in `dir`, made with the `openssl` command (P-256, valid a day).
fn make_certificates(dir: &Path) -> Result<(), String> {
    let openssl = apt::program("openssl", "openssl", "OPENSSL")?;
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n\
         subjectAltName=IP:127.0.0.1\n",
    )
    .map_err(|e| format!("writing server.ext: {e}"))?;
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "1",
            "-subj",
            "/CN=authed test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "1",
            "-extfile",
            "server.ext",
        ],
    ];
    for args in steps {
        let output = Command::new(&openssl)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("could not run openssl: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "`openssl {}` failed ({}):\n{}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    Ok(())
}
