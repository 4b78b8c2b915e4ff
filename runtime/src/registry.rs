//! Users and channels on this node: which sockets belong to which user, and who is in which
//! channel. Methods of [`ConnectedClients`], so they share its one lock.

use std::collections::HashSet;

use serde::Serialize;
use socketioxide::socket::Sid;

use crate::client::Client;
use crate::clients::{ConnectedClients, channel_room, user_room};

/// Why tether disconnected a socket; sent to the client as `/ops/disconnected`
/// `{code, message}` right before the disconnect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Kick {
    /// A stable code, e.g. `kicked`, `connection_limit`, `expired_token`.
    pub code: String,
    /// A human-readable message.
    pub message: String,
}

impl Kick {
    /// A kick with a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// The event a socket receives right before tether disconnects it, with a [`Kick`].
pub const DISCONNECTED_EVENT: &str = "/ops/disconnected";

impl<M: Send + Sync + 'static> ConnectedClients<M> {
    /// Every socket of a user on this node, oldest first.
    pub fn user_sockets(&self, user: &str) -> Vec<Client<M>> {
        self.sockets_in(|state| state.by_user.get(user))
    }

    /// Whether the user has at least one socket connected here.
    pub fn is_online(&self, user: &str) -> bool {
        self.read().by_user.contains_key(user)
    }

    /// The users with at least one socket here.
    pub fn users(&self) -> Vec<String> {
        self.read().by_user.keys().cloned().collect()
    }

    /// The member sockets of a channel on this node.
    pub fn channel_members(&self, channel: &str) -> Vec<Client<M>> {
        self.sockets_in(|state| state.by_channel.get(channel))
    }

    /// The channels with at least one member here.
    pub fn channels(&self) -> Vec<String> {
        self.read().by_channel.keys().cloned().collect()
    }

    fn sockets_in(
        &self,
        pick: impl FnOnce(&crate::clients::State<M>) -> Option<&Vec<Sid>>,
    ) -> Vec<Client<M>> {
        let state = self.read();
        pick(&state)
            .into_iter()
            .flatten()
            .filter_map(|sid| state.by_sid.get(sid))
            .map(|e| self.client(e))
            .collect()
    }

    /// Associates a connected socket with a user (Psychic's `Ws.register`), or with none
    /// (`None`: the socket becomes anonymous). The socket stops receiving the old user's emits
    /// and starts receiving the new one's at once.
    ///
    /// Returns `false` when the socket is not connected here.
    pub fn register(&self, client: &Client<M>, user: Option<&str>) -> bool {
        self.set_user(client.id(), user.map(str::to_owned))
            .is_some()
    }

    /// Changes the user of a socket; returns the previous one (`None` when the socket is not
    /// connected here).
    pub(crate) fn set_user(&self, sid: Sid, user: Option<String>) -> Option<Option<String>> {
        let mut state = self.write();
        let entry = state.by_sid.get(&sid)?;
        let (data, socket) = (entry.data.clone(), entry.socket.clone());
        let old = std::mem::replace(&mut data.session().user, user.clone());
        if old == user {
            return Some(old);
        }
        let previous = old.clone();
        if let Some(old) = old {
            socket.leave(user_room(&old));
            self.index_remove(&mut state, &Target::User(old), sid);
        }
        if let Some(new) = user {
            socket.join(user_room(&new));
            self.index_add(&mut state, &Target::User(new), sid);
        }
        Some(previous)
    }

    /// Adds a socket to a channel (no authorization check: server code decides).
    /// Returns `false` when the socket is not connected here.
    pub fn join_channel(&self, client: &Client<M>, channel: &str) -> bool {
        let mut state = self.write();
        let sid = client.id();
        if !state.by_sid.contains_key(&sid) {
            return false;
        }
        if client.data.session().channels.insert(channel.to_owned()) {
            client.socket.join(channel_room(channel));
            self.index_add(&mut state, &Target::Channel(channel.to_owned()), sid);
        }
        true
    }

    /// Removes a socket from a channel. Returns whether it was a member.
    pub fn leave_channel(&self, client: &Client<M>, channel: &str) -> bool {
        let mut state = self.write();
        let removed = client.data.session().channels.remove(channel);
        if removed {
            client.socket.leave(channel_room(channel));
            self.index_remove(
                &mut state,
                &Target::Channel(channel.to_owned()),
                client.id(),
            );
        }
        removed
    }

    /// Disconnects every socket of a user on this node, telling each why first
    /// ([`DISCONNECTED_EVENT`]). Returns how many sockets were disconnected.
    pub fn kick_user(&self, user: &str, kick: &Kick) -> usize {
        let sockets = self.user_sockets(user);
        for client in &sockets {
            kick_socket(client, kick);
        }
        sockets.len()
    }

    /// The sockets of `user` beyond the newest `cap`, oldest first.
    pub(crate) fn over_cap(&self, user: &str, cap: usize) -> Vec<Client<M>> {
        let mut sockets = self.user_sockets(user);
        let excess = sockets.len().saturating_sub(cap);
        sockets.truncate(excess);
        sockets
    }

    /// The socket ids selected by targets minus exclusions, for counting a delivery.
    pub(crate) fn count_targets(&self, targets: &[Target], except: &[Target]) -> usize {
        let state = self.read();
        let sids_of = |t: &Target| -> Vec<Sid> {
            match t {
                Target::All => state.by_sid.keys().copied().collect(),
                Target::User(u) => state.by_user.get(u).cloned().unwrap_or_default(),
                Target::Channel(c) => state.by_channel.get(c).cloned().unwrap_or_default(),
                Target::Client(k) => state.by_key.get(k).cloned().unwrap_or_default(),
            }
        };
        if let ([one], []) = (targets, except) {
            // The common case: no set needed.
            return match one {
                Target::All => state.by_sid.len(),
                Target::User(u) => state.by_user.get(u).map_or(0, Vec::len),
                Target::Channel(c) => state.by_channel.get(c).map_or(0, Vec::len),
                Target::Client(k) => state.by_key.get(k).map_or(0, Vec::len),
            };
        }
        let mut selected: HashSet<Sid> = targets.iter().flat_map(sids_of).collect();
        for sid in except.iter().flat_map(sids_of) {
            selected.remove(&sid);
        }
        selected.len()
    }
}

/// Tells a socket why, then disconnects it.
pub(crate) fn kick_socket<M: Send + Sync + 'static>(client: &Client<M>, kick: &Kick) {
    if let Err(e) = client.emit(DISCONNECTED_EVENT, kick) {
        tracing::debug!(sid = %client.id(), error = %e, "could not tell a kicked socket why");
    }
    tracing::info!(sid = %client.id(), code = kick.code, "disconnecting socket");
    client.disconnect();
}

/// Who an emit is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Target {
    /// Every socket of the namespace.
    All,
    /// Every socket of a user.
    User(String),
    /// Every member of a channel.
    Channel(String),
    /// Every socket of a client key.
    Client(String),
}

impl Target {
    /// The socket.io room that holds the target's sockets (`None` for [`Target::All`]).
    pub fn room(&self) -> Option<String> {
        match self {
            Self::All => None,
            Self::User(u) => Some(user_room(u)),
            Self::Channel(c) => Some(channel_room(c)),
            Self::Client(k) => Some(crate::clients::client_room(k)),
        }
    }
}
