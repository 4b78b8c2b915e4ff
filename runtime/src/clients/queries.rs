//! Read-only lookups of the connected-clients map: by key, socket id, user and channel.

use socketioxide::socket::Sid;

use super::client::Client;
use super::map::ConnectedClients;
use crate::protocol::Target;

impl<M: Send + Sync + 'static> ConnectedClients<M> {
    /// The local sockets of one recipient, oldest first (every socket for [`Target::All`]).
    pub fn sockets_of(&self, target: &Target) -> Vec<Client<M>> {
        let indexes = self.read();
        indexes
            .entries(target)
            .into_iter()
            .map(|e| self.client(e))
            .collect()
    }

    /// Every socket of a client key, oldest first; empty when the key is not connected here.
    pub fn get(&self, key: &str) -> Vec<Client<M>> {
        self.sockets_of(&Target::Client(key.to_owned()))
    }

    /// The client with this socket id.
    pub fn by_socket_id(&self, sid: Sid) -> Option<Client<M>> {
        self.read().by_sid.get(&sid).map(|e| self.client(e))
    }

    /// The client whose socket id reads `sid` (as another node or Redis names it).
    pub(crate) fn by_socket_id_str(&self, sid: &str) -> Option<Client<M>> {
        self.by_socket_id(sid.parse().ok()?)
    }

    /// Whether at least one socket of this key is connected here.
    pub fn contains(&self, key: &str) -> bool {
        self.read().holds(&Target::Client(key.to_owned()))
    }

    /// How many sockets are connected.
    pub fn len(&self) -> usize {
        self.read().by_sid.len()
    }

    /// Whether no socket is connected.
    pub fn is_empty(&self) -> bool {
        self.read().by_sid.is_empty()
    }

    /// How many distinct keys are connected.
    pub fn key_count(&self) -> usize {
        self.read().len_of(Target::Client)
    }

    /// The connected keys.
    pub fn keys(&self) -> Vec<String> {
        self.read().names(Target::Client)
    }

    /// Every connected client (one entry per socket).
    pub fn all(&self) -> Vec<Client<M>> {
        self.sockets_of(&Target::All)
    }

    /// The clients whose metadata matches a predicate, e.g. every admin.
    pub fn filter(&self, mut predicate: impl FnMut(&M) -> bool) -> Vec<Client<M>> {
        self.read()
            .by_sid
            .values()
            .filter(|e| predicate(&e.data.metadata))
            .map(|e| self.client(e))
            .collect()
    }

    /// Every socket of a user on this node, oldest first.
    pub fn user_sockets(&self, user: &str) -> Vec<Client<M>> {
        self.sockets_of(&Target::User(user.to_owned()))
    }

    /// Whether the user has at least one socket connected here.
    pub fn is_online(&self, user: &str) -> bool {
        self.read().holds(&Target::User(user.to_owned()))
    }

    /// The users with at least one socket here.
    pub fn users(&self) -> Vec<String> {
        self.read().names(Target::User)
    }

    /// The users with at least one socket here, with how many each.
    pub fn user_counts(&self) -> Vec<(String, usize)> {
        self.read()
            .users()
            .map(|(user, sids)| (user.clone(), sids.len()))
            .collect()
    }

    /// The member sockets of a channel on this node.
    pub fn channel_members(&self, channel: &str) -> Vec<Client<M>> {
        self.sockets_of(&Target::Channel(channel.to_owned()))
    }

    /// The channels with at least one member here.
    pub fn channels(&self) -> Vec<String> {
        self.read().names(Target::Channel)
    }

    /// The sockets of `user` beyond the newest `cap`, oldest first.
    pub(crate) fn over_cap(&self, user: &str, cap: usize) -> Vec<Client<M>> {
        let mut sockets = self.user_sockets(user);
        let excess = sockets.len().saturating_sub(cap);
        sockets.truncate(excess);
        sockets
    }
}
