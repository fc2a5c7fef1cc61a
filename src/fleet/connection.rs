//! What a [`Fleet`](super::Fleet) connects to, one Redis node or a Redis Cluster, and the one
//! connection type the components' commands and scripts run on either way.

use std::time::Duration;

use redis::{
    Cmd, ConnectionInfo, Pipeline, RedisFuture, RedisResult, Value,
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    cluster::{ClusterClient, ClusterClientBuilder},
    cluster_async::ClusterConnection,
    cluster_routing::{RoutingInfo, SingleNodeRoutingInfo},
};

/// How often a cluster command is sent again after a redirection (`MOVED`, `ASK`: the
/// cluster's slots moved) or a failed node connection, within the fleet's timeout. Three
/// covers a resharding's redirection and a reconnection; more would only run into the
/// timeout.
const CLUSTER_RETRIES: u32 = 3;

/// The shortest and longest wait before a cluster command is sent again after an error (not
/// after a redirection, which is followed at once), in milliseconds: well inside the fleet's
/// default timeout of 250 ms, instead of the redis crate's 1.28 s to 11 min.
const CLUSTER_RETRY_WAIT_MS: (u64, u64) = (10, 100);

/// What a fleet connects to.
#[derive(Clone)]
pub(super) enum Target {
    /// One Redis (or a proxy in front of many).
    Single(Box<redis::Client>),
    /// The nodes of a Redis Cluster to start from (the cluster tells the others). The client
    /// is built when connecting, with the fleet's timeout as it is then.
    Cluster {
        nodes: Vec<ConnectionInfo>,
        /// PEM certificate authorities to trust for `rediss://` instead of the platform's
        /// (`Fleet::tls_root_certificates`).
        root_cert: Option<Vec<u8>>,
    },
}

impl Target {
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster { .. })
    }

    /// Connects, each step bounded by `timeout` (the caller bounds the whole as well).
    pub(super) async fn connect(&self, timeout: Duration) -> RedisResult<Connection> {
        match self {
            Self::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1);
                let conn = client.get_connection_manager_with_config(config).await?;
                Ok(Connection::Single(conn))
            }
            Self::Cluster { nodes, root_cert } => {
                let client = cluster_client(nodes.clone(), timeout, root_cert.as_deref())?;
                Ok(Connection::Cluster(client.get_async_connection().await?))
            }
        }
    }
}

/// The cluster client for `nodes`, its connections and responses bounded by `timeout`.
/// Fails when the nodes' URLs do not fit together (different users, passwords, databases or
/// schemes, a Unix socket).
pub(super) fn cluster_client(
    nodes: Vec<ConnectionInfo>,
    timeout: Duration,
    root_cert: Option<&[u8]>,
) -> RedisResult<ClusterClient> {
    let (min_wait, max_wait) = CLUSTER_RETRY_WAIT_MS;
    let builder = ClusterClientBuilder::new(nodes)
        .connection_timeout(timeout)
        .response_timeout(timeout)
        .retries(CLUSTER_RETRIES)
        .min_retry_wait(min_wait)
        .max_retry_wait(max_wait);
    #[cfg(feature = "rustls")]
    let builder = match root_cert {
        Some(pem) => builder.certs(redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.to_vec()),
        }),
        None => builder,
    };
    #[cfg(not(feature = "rustls"))]
    let _ = root_cert;
    builder.build()
}

/// The fleet's connection to Redis, which the components' closures receive: a reconnecting
/// connection to one node, or a cluster connection that routes each command (each script by
/// its keys, which share one hash tag) to the node owning its slot and follows redirections.
/// Cheap to clone; clones share the connection.
#[derive(Clone)]
pub(crate) enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Connection {
    /// `PING` on one node; on a cluster, on each primary that `CLUSTER SLOTS` lists. (A plain
    /// `PING` goes to the nodes the cluster connection holds, and quietly skips one it lost.)
    pub(crate) async fn ping(&mut self) -> RedisResult<()> {
        match self {
            Self::Single(conn) => {
                redis::cmd("PING").query_async::<String>(conn).await?;
            }
            Self::Cluster(conn) => {
                let ranges: Vec<Vec<Value>> =
                    redis::cmd("CLUSTER").arg("SLOTS").query_async(conn).await?;
                let mut primaries = Vec::new();
                for range in &ranges {
                    // [first slot, last slot, [host, port, id, ...] of the primary, replicas...]
                    if let Some(Value::Array(node)) = range.get(2)
                        && let [host, port, ..] = &node[..]
                    {
                        let address = (
                            redis::from_redis_value_ref::<String>(host)?,
                            redis::from_redis_value_ref::<u16>(port)?,
                        );
                        if !primaries.contains(&address) {
                            primaries.push(address);
                        }
                    }
                }
                if primaries.is_empty() {
                    return Err(redis::RedisError::from((
                        redis::ErrorKind::ClusterConnectionNotFound,
                        "the cluster lists no slots",
                    )));
                }
                for (host, port) in primaries {
                    let to =
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
                    conn.route_command(redis::cmd("PING"), to).await?;
                }
            }
        }
        Ok(())
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}
