//! Joining the cluster as a node: connect, then start the node's tasks (the subscriber, the
//! heartbeat, the presence writers).

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::{mpsc, watch};

use super::acks::{Pending, acks_channel};
use super::batch::Publishes;
use super::config::{ClusterConfig, ClusterState, redacted_url};
use super::error::ClusterError;
use super::guard::Guard;
use super::heartbeat;
use super::node::{Cluster, Seen, random_id};
use super::queue::Writers;
use super::roster;
use super::subscriber::{self, Follow};
use super::topology::Topology;
use super::wanted::Wanted;
use super::writer;
use crate::protocol::{Target, redis_channel};

impl Cluster {
    /// Joins the cluster as a node serving `namespaces`.
    pub(crate) async fn join(
        config: &ClusterConfig,
        namespaces: &[&'static str],
    ) -> Result<Arc<Self>, ClusterError> {
        let topology = Topology::of(config)?;
        let publisher = match topology.connect(false).await {
            Ok(p) => p,
            Err(e) if !config.start_degraded => {
                return Err(ClusterError(format!(
                    "cannot reach Redis at {}: {}; set `start_degraded` to start anyway",
                    redacted_url(&config.url),
                    topology.explain(&e)
                )));
            }
            Err(e) => {
                tracing::warn!(error = %e, "Redis unreachable at start; starting degraded");
                topology
                    .connect(true)
                    .await
                    .map_err(|e| ClusterError(format!("Redis client: {e}")))?
            }
        };
        // Connected on first use: it adds no way for the start to fail.
        let background = topology
            .connect(true)
            .await
            .map_err(|e| ClusterError(format!("Redis client: {e}")))?;
        // Capacity one: a wake-up pending is all the subscriber needs to know.
        let (wake_tx, wake) = mpsc::channel(1);
        let node_id = random_id();
        let acks = acks_channel(&config.prefix, &node_id);
        let wanted = Arc::new(Wanted::new(
            namespaces
                .iter()
                .map(|ns| redis_channel(&config.prefix, ns, &Target::All))
                .chain([acks.clone()])
                .collect(),
        ));
        let guard = Arc::new(Guard::new(config.max_envelope_size, config.key.clone()));
        let (state_tx, state_rx) = watch::channel(ClusterState::Reconnecting { attempts: 0 });
        let (writers, queues) = Writers::new(guard.clone());
        let cluster = Arc::new_cyclic(|me| Self {
            node_id: Some(node_id.clone()),
            origin: node_id.clone(),
            prefix: config.prefix.clone(),
            heartbeat: config.heartbeat,
            publishes: Publishes::new(publisher.clone()),
            publisher,
            background,
            subs: Some((wanted.clone(), wake_tx)),
            state: state_rx,
            namespaces: RwLock::new(HashMap::new()),
            seq: AtomicU64::new(0),
            seen: Mutex::new(Seen::default()),
            guard: guard.clone(),
            writers,
            acks_channel: Some(acks),
            pending_acks: Pending::default(),
            leaving: std::sync::atomic::AtomicBool::new(false),
            beating: tokio::sync::Mutex::new(()),
            shutdown: watch::Sender::new(false),
            topology: None,
            replies: tokio::sync::Mutex::new(None),
            me: me.clone(),
        });
        let follow = Follow {
            wanted,
            wake,
            guard,
            shutdown: cluster.shutdown.subscribe(),
        };
        tracing::info!(
            node = node_id,
            redis = topology.describe(),
            "joined the tether cluster"
        );
        tokio::spawn(subscriber::run(
            topology,
            follow,
            Arc::downgrade(&cluster),
            state_tx,
        ));
        tokio::spawn(heartbeat::heartbeat(Arc::downgrade(&cluster)));
        tokio::spawn(roster::run(Arc::downgrade(&cluster)));
        for queue in queues {
            tokio::spawn(writer::write(Arc::downgrade(&cluster), queue));
        }
        Ok(cluster)
    }
}
