//! Recovery in the connected-clients map: a recorded emit (a position in the history, then each
//! local socket through its cursor), and a connecting socket's replay of what it missed.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::value::RawValue;
use socketioxide::SendError;

use super::client::Client;
use super::data::ClientData;
use super::map::{ConnectedClients, recipients};
use crate::clock::now_ms;
use crate::delivery::{Delivery, EmitError};
use crate::metrics::{Dropped, dropped};
use crate::protocol::{RecoveryInfo, Target};
use crate::recovery::{Entry, Missed, Position, Recovery, Ring, stream_name, to_send};
use crate::remote::Order;

/// A namespace's recovery: its settings and, in embedded mode, its history (cluster mode keeps
/// the history in Redis, behind the `Remote` port).
pub(crate) struct History {
    pub(crate) config: Recovery,
    ring: Option<Mutex<Ring>>,
}

impl History {
    /// The history of a namespace; `embedded`: kept here, in memory.
    pub(crate) fn new(config: Recovery, embedded: bool) -> Self {
        Self {
            config,
            ring: embedded.then(|| Mutex::new(Ring::new(config, now_ms()))),
        }
    }

    /// The in-memory history (embedded mode). Held while a recorded emit gets its position and
    /// is handed to the local sockets, so that every socket gets recorded events in position
    /// order; and while a connecting socket's missed events are read.
    fn ring(&self) -> Option<MutexGuard<'_, Ring>> {
        self.ring
            .as_ref()
            .map(|r| r.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Whether a socket is one of the recipients an entry excludes.
fn excluded<M>(data: &ClientData<M>, except: &[Target]) -> bool {
    if except.is_empty() {
        return false;
    }
    let session = data.session();
    except.iter().any(|t| match t {
        Target::All => true,
        Target::Client(k) => *k == data.key,
        Target::User(u) => session.user.as_deref() == Some(u),
        Target::Channel(c) => session.channels.contains(c),
    })
}

impl<M: Send + Sync + 'static> ConnectedClients<M> {
    /// Emits a recorded event (recovery on; `targets` are recipients, not everyone): it gets a
    /// position in its targets' streams, then reaches each selected socket through its cursor.
    pub(super) async fn emit_recorded(
        &self,
        history: &History,
        targets: &[Target],
        except: &[Target],
        event: &str,
        data: &RawValue,
    ) -> Result<Delivery, EmitError> {
        let mut delivery = Delivery::default();
        let Some(remote) = self.remote() else {
            if let Some(mut ring) = history.ring() {
                let now = now_ms();
                let pos = ring.next(now);
                let entry = Arc::new(Entry::new(pos, event, data, targets, except));
                ring.append(&entry, now);
                (delivery.sockets, delivery.failed) = self.deliver_entry(&entry);
                delivery.nodes = usize::from(delivery.sockets > 0);
                delivery.stored_at(pos);
            }
            return Ok(delivery);
        };
        let ns = self.namespace();
        let order = Order::Emit { event, data };
        remote.admit(ns, targets, except, &order)?;
        match remote
            .record(ns, targets, except, order, history.config)
            .await
        {
            Some((pos, nodes)) => {
                // This node's sockets get it from Redis too, in the history's order.
                delivery.sockets = self.read().count_selected(targets, except);
                delivery.nodes = nodes;
                delivery.stored_at(pos);
            }
            None if !remote.is_connected() => {
                // Redis is away, so the script did not run: nothing is recorded, this node's
                // sockets still get the event (without a position).
                delivery = self.emit_local(targets, except, event, data).await?;
                delivery.cluster_unavailable = true;
            }
            None => {
                // The script failed or its answer was lost: it may have run, and then every
                // node delivers the event from Redis. Delivering it here too could send it
                // twice; the client recovers it if it was recorded.
                delivery.cluster_unavailable = true;
            }
        }
        Ok(delivery)
    }

    /// Sends a recorded event to the local sockets it selects, each through its cursor (held
    /// sockets keep it for after their replay; a socket the replay already sent it to skips
    /// it). Returns `(sent, failed)`. A socket that cannot take it (its send queue is full) is
    /// disconnected: its client reconnects and recovers from what it really received, rather
    /// than living on with a gap.
    pub(super) fn deliver_entry(&self, entry: &Arc<Entry>) -> (usize, usize) {
        let indexes = self.read();
        let pos = entry.pos.to_string();
        let (mut sent, mut stuck) = (0, Vec::new());
        for e in indexes.selected(&entry.targets, &entry.except) {
            let mut cursor = e.data.cursor();
            if !cursor.offer(entry) {
                continue;
            }
            match e.socket.emit(&entry.event, &(&*entry.data, &pos)) {
                Ok(()) => sent += 1,
                Err(_) => stuck.push(self.client(e)),
            }
        }
        drop(indexes);
        let failed = stuck.len();
        dropped(self.namespace(), Dropped::Emit, failed);
        self.inner().metrics.sent(&entry.event, sent);
        for client in stuck {
            tracing::debug!(sid = %client.id(), "a recorded event did not fit: disconnecting, the client recovers");
            client.disconnect();
        }
        (sent, failed)
    }

    /// Carries out a recorded emit another node (or this one) published.
    pub(super) fn deliver_recorded(
        &self,
        pos: Position,
        targets: &[Target],
        except: &[Target],
        event: &str,
        data: &RawValue,
    ) {
        self.deliver_entry(&Arc::new(Entry::new(pos, event, data, targets, except)));
    }

    /// Makes every socket catch up from the history (recovery on): each is held again and
    /// sent what its streams recorded after the last position it was sent. Called when this
    /// node may have missed recorded emits (its Redis link was lost, or its inbox overflowed).
    pub(crate) fn resync(&self) {
        if self.history().is_none() {
            return;
        }
        let clients: Vec<(Client<M>, Position)> = {
            let indexes = self.read();
            indexes
                .by_sid
                .values()
                .filter_map(|e| {
                    let mut cursor = e.data.cursor();
                    cursor.hold().then(|| (self.client(e), cursor.last()))
                })
                .collect()
        };
        if clients.is_empty() {
            return;
        }
        tracing::info!(
            ns = self.namespace(),
            sockets = clients.len(),
            "catching up from the recovery history"
        );
        let this = self.clone();
        tokio::spawn(async move {
            futures_util::stream::iter(clients)
                .for_each_concurrent(RESYNC_CONCURRENCY, |(client, last)| {
                    let this = this.clone();
                    async move {
                        this.recover(&client, Some(last), false).await;
                    }
                })
                .await;
        });
    }

    /// The latest position sent to a socket, as its connection info reports it (recovery on).
    pub(crate) fn offset_of(&self, data: &ClientData<M>) -> Option<String> {
        self.history().map(|_| data.cursor().last().to_string())
    }

    /// The history's latest position (recovery on; `None` when it cannot be read). A socket
    /// that asks for nothing starts from the head read before its CONNECT packet goes out, so
    /// that no event emitted after its client saw `connect` is lost while it registers.
    pub(crate) async fn head(&self) -> Option<Position> {
        let history = self.history()?;
        match self.remote() {
            None => history.ring().map(|ring| ring.head()),
            Some(remote) => remote
                .missed(self.namespace(), &[], None, history.config)
                .await
                .map(|m| m.head),
        }
    }

    /// Brings a just-registered socket up to date (recovery on): reads what its streams
    /// recorded after `since` (its `auth.recover.offset`, or the head before it connected),
    /// sends it in order, then lets the live events held meanwhile through. Without `since`,
    /// the socket simply goes live at the history's head. Returns what the socket learns when
    /// it `asked` to recover.
    pub(crate) async fn recover(
        &self,
        client: &Client<M>,
        since: Option<Position>,
        asked: bool,
    ) -> Option<RecoveryInfo> {
        let history = self.history()?;
        let streams = recipients(client.data());
        let missed = match self.remote() {
            None => {
                let ring = history.ring()?;
                Ok(match since {
                    Some(since) => ring.missed(&streams, since, now_ms()),
                    None => Missed {
                        head: ring.head(),
                        ..Missed::default()
                    },
                })
            }
            Some(remote) => {
                let missed = if remote.followed().await {
                    remote
                        .missed(self.namespace(), &streams, since, history.config)
                        .await
                } else {
                    None
                };
                missed.ok_or(streams)
            }
        };
        let info = self.replay(client, missed, since).await;
        if !asked {
            return None;
        }
        let outcome = info.reason.as_deref().unwrap_or("recovered");
        crate::metrics::recovery(self.namespace(), outcome, info.replayed);
        Some(info)
    }

    /// Sends what a socket missed (or, when the history could not be read, nothing: `Err`
    /// names the streams), then the live events held meanwhile, then ends its hold.
    ///
    /// A replay can be long (up to the bound of each stream): it waits for room in the socket's
    /// send queue rather than dropping, and live events keep being held until it is done. A
    /// client that does not read within [`REPLAY_PATIENCE`] is disconnected (it recovers from
    /// what it received when it comes back).
    async fn replay(
        &self,
        client: &Client<M>,
        missed: Result<Missed, Vec<Target>>,
        since: Option<Position>,
    ) -> RecoveryInfo {
        let data = client.data();
        // What the client already has: nothing held at or before it is sent again (unless the
        // history does not vouch for it: then everything held goes).
        let mut last = match &missed {
            Ok(m) if !m.reset && !m.expired => since.unwrap_or_default(),
            _ => Position::default(),
        };
        let (entries, head, lost, mut reason) = match missed {
            Ok(m) => {
                let reason = if m.expired {
                    Some("expired")
                } else if m.reset {
                    Some("reset")
                } else if !m.lost.is_empty() {
                    Some("trimmed")
                } else {
                    None
                };
                (m.entries, m.head, m.lost, reason)
            }
            Err(streams) => (
                Vec::new(),
                Position::default(),
                streams,
                Some("unavailable"),
            ),
        };
        let mut pending: Vec<Arc<Entry>> = entries
            .into_iter()
            .filter(|e| !excluded(data, &e.except))
            .collect();
        let mut replayed = 0;
        let deadline = tokio::time::Instant::now() + REPLAY_PATIENCE;
        let stuck = loop {
            let mut stuck = false;
            for entry in to_send(std::mem::take(&mut pending), last) {
                if !send_patiently(client, &entry, deadline).await {
                    stuck = true;
                    break;
                }
                replayed += usize::from(entry.pos <= head);
                last = entry.pos;
            }
            if stuck {
                break true;
            }
            let mut cursor = data.cursor();
            let held = to_send(cursor.take_held(), last);
            if held.len() > FINAL_BATCH && tokio::time::Instant::now() >= deadline {
                break true;
            }
            if held.len() > FINAL_BATCH {
                // Many arrived meanwhile: send them patiently too, still holding.
                drop(cursor);
                pending = held;
                continue;
            }
            // The last few go out under the cursor's lock, so no live event passes them.
            for entry in &held {
                if send_now(client, entry).is_err() {
                    stuck = true;
                    break;
                }
                last = entry.pos;
            }
            cursor.go_live(last.max(head));
            break stuck;
        };
        if stuck {
            reason = Some("send_queue_full");
            tracing::debug!(sid = %client.id(), "the replay did not fit: disconnecting, the client recovers");
            client.data().cursor().go_live(last.max(head));
            client.disconnect();
        }
        RecoveryInfo {
            recovered: reason.is_none(),
            replayed,
            reason: reason.map(str::to_owned),
            lost: lost.iter().map(stream_name).collect(),
        }
    }
}

/// How many sockets catch up from the history at once after this node missed recorded emits.
const RESYNC_CONCURRENCY: usize = 32;

/// How long a replay may take in all (waiting for room in the socket's send queue); the
/// socket's own events wait as long at most (`CONNECT_GATE`).
pub(crate) const REPLAY_PATIENCE: Duration = Duration::from_secs(10);

/// Held events at most sent at once when a replay ends.
const FINAL_BATCH: usize = 64;

/// Sends a recorded event to one socket now.
fn send_now<M: Send + Sync + 'static>(client: &Client<M>, entry: &Entry) -> Result<(), SendError> {
    let pos = entry.pos.to_string();
    client.socket().emit(&entry.event, &(&*entry.data, &pos))
}

/// Sends a recorded event to one socket, waiting for room in its send queue; `false` when it
/// is closed, or still full at the replay's `deadline`.
async fn send_patiently<M: Send + Sync + 'static>(
    client: &Client<M>,
    entry: &Entry,
    deadline: tokio::time::Instant,
) -> bool {
    loop {
        match send_now(client, entry) {
            Ok(()) => return true,
            Err(SendError::Socket(socketioxide::SocketError::InternalChannelFull))
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(_) => return false,
        }
    }
}
