//! Recovery in the connected-clients map: a recorded emit (a position in the history, then each
//! local socket through its cursor), and a connecting socket's replay of what it missed.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::value::RawValue;

use super::client::Client;
use super::data::ClientData;
use super::map::{ConnectedClients, recipients};
use crate::delivery::{Delivery, EmitError};
use crate::metrics::{Dropped, dropped};
use crate::protocol::{RecoveryInfo, Target};
use crate::recovery::{Entry, Missed, Position, Recovery, Ring, stream_name};
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

    /// The in-memory history (embedded mode). Held while a recorded emit is delivered and while
    /// a socket's replay is sent, so that the two never interleave.
    fn ring(&self) -> Option<MutexGuard<'_, Ring>> {
        self.ring
            .as_ref()
            .map(|r| r.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Milliseconds since the Unix epoch: the clock of the embedded history.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
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
                let entry = Arc::new(Entry {
                    pos,
                    event: event.to_owned(),
                    data: data.to_owned(),
                    targets: targets.to_vec(),
                    except: except.to_vec(),
                });
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
            None => {
                // Redis is away: nothing is recorded; this node's sockets still get the event.
                delivery = self.emit_local(targets, except, event, data).await?;
                delivery.cluster_unavailable = true;
            }
        }
        Ok(delivery)
    }

    /// Sends a recorded event to the local sockets it selects, each through its cursor (held
    /// sockets keep it for after their replay; a socket the replay already sent it to skips
    /// it). Returns `(sent, failed)`.
    pub(super) fn deliver_entry(&self, entry: &Arc<Entry>) -> (usize, usize) {
        let indexes = self.read();
        let pos = entry.pos.to_string();
        let (mut sent, mut failed) = (0, 0);
        for e in indexes.selected(&entry.targets, &entry.except) {
            let mut cursor = e.data.cursor();
            if !cursor.offer(entry) {
                continue;
            }
            match e.socket.emit(&entry.event, &(&*entry.data, &pos)) {
                Ok(()) => sent += 1,
                Err(_) => failed += 1,
            }
        }
        dropped(self.namespace(), Dropped::Emit, failed);
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
        let entry = Arc::new(Entry {
            pos,
            event: event.to_owned(),
            data: data.to_owned(),
            targets: targets.to_vec(),
            except: except.to_vec(),
        });
        self.deliver_entry(&entry);
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
        let Some(remote) = self.remote() else {
            let ring = history.ring()?;
            let missed = match since {
                Some(since) => ring.missed(&streams, since, now_ms()),
                None => Missed {
                    head: ring.head(),
                    ..Missed::default()
                },
            };
            let info = self.replay(client, Ok(missed));
            drop(ring);
            return asked.then_some(info);
        };
        let missed = if remote.followed().await {
            remote
                .missed(self.namespace(), &streams, since, history.config)
                .await
        } else {
            None
        };
        let info = self.replay(client, missed.ok_or(streams));
        asked.then_some(info)
    }

    /// Sends what a socket missed (or, when the history could not be read, nothing: `Err`
    /// names the streams), then ends its hold.
    fn replay(&self, client: &Client<M>, missed: Result<Missed, Vec<Target>>) -> RecoveryInfo {
        let data = client.data();
        let (entries, head, lost, reason) = match missed {
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
        let entries: Vec<Arc<Entry>> = entries
            .into_iter()
            .filter(|e| !excluded(data, &e.except))
            .collect();
        let mut cursor = data.cursor();
        let out = cursor.release(entries, head);
        let mut replayed = 0;
        for entry in &out {
            replayed += usize::from(entry.pos <= head);
            let pos = entry.pos.to_string();
            if client
                .socket()
                .emit(&entry.event, &(&*entry.data, &pos))
                .is_err()
            {
                dropped(self.namespace(), Dropped::Emit, 1);
            }
        }
        drop(cursor);
        RecoveryInfo {
            recovered: reason.is_none(),
            replayed,
            reason: reason.map(str::to_owned),
            lost: lost.iter().map(stream_name).collect(),
        }
    }
}
