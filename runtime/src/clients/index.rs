//! The indexes of the connected-clients map: sockets by id, and socket ids by client key, user
//! and channel, each list in connection (or join) order. Plain data: the map decides what an
//! index change means for the rest of the node.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;

use super::data::ClientData;
use crate::protocol::Target;

/// One socket in the map.
pub(super) struct Entry<M> {
    pub(super) data: Arc<ClientData<M>>,
    pub(super) socket: SocketRef,
}

/// Everything the map's lock protects.
pub(super) struct Indexes<M> {
    pub(super) by_sid: HashMap<Sid, Entry<M>>,
    /// key → sockets in connection order (oldest first).
    by_key: HashMap<String, Vec<Sid>>,
    /// user → sockets in connection (or login) order, oldest first.
    by_user: HashMap<String, Vec<Sid>>,
    /// channel → member sockets.
    by_channel: HashMap<String, Vec<Sid>>,
}

/// What an index change meant for its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    /// Nothing changed (already there, or not there).
    None,
    /// The socket was added or removed; the recipient still has others, or had some.
    Some,
    /// The recipient's first socket arrived, or its last one left.
    Edge,
}

impl<M> Default for Indexes<M> {
    fn default() -> Self {
        Self {
            by_sid: HashMap::new(),
            by_key: HashMap::new(),
            by_user: HashMap::new(),
            by_channel: HashMap::new(),
        }
    }
}

impl<M> Indexes<M> {
    fn index<'a>(&'a self, target: &'a Target) -> Option<(&'a HashMap<String, Vec<Sid>>, &'a str)> {
        match target {
            Target::User(u) => Some((&self.by_user, u)),
            Target::Channel(c) => Some((&self.by_channel, c)),
            Target::Client(k) => Some((&self.by_key, k)),
            Target::All => None,
        }
    }

    fn index_mut<'a>(
        &'a mut self,
        target: &'a Target,
    ) -> Option<(&'a mut HashMap<String, Vec<Sid>>, &'a str)> {
        match target {
            Target::User(u) => Some((&mut self.by_user, u)),
            Target::Channel(c) => Some((&mut self.by_channel, c)),
            Target::Client(k) => Some((&mut self.by_key, k)),
            Target::All => None,
        }
    }

    /// Indexes `sid` under a recipient.
    pub(super) fn add(&mut self, target: &Target, sid: Sid) -> Change {
        let Some((map, name)) = self.index_mut(target) else {
            return Change::None;
        };
        let sids = map.entry(name.to_owned()).or_default();
        if sids.contains(&sid) {
            return Change::None;
        }
        sids.push(sid);
        if sids.len() == 1 {
            Change::Edge
        } else {
            Change::Some
        }
    }

    /// Removes `sid` from under a recipient.
    pub(super) fn remove(&mut self, target: &Target, sid: Sid) -> Change {
        let Some((map, name)) = self.index_mut(target) else {
            return Change::None;
        };
        let Some(sids) = map.get_mut(name) else {
            return Change::None;
        };
        let before = sids.len();
        sids.retain(|s| *s != sid);
        if sids.len() == before {
            Change::None
        } else if sids.is_empty() {
            map.remove(name);
            Change::Edge
        } else {
            Change::Some
        }
    }

    /// The socket ids of one recipient, in order (every socket for [`Target::All`]).
    pub(super) fn sids(&self, target: &Target) -> Vec<Sid> {
        match self.index(target) {
            Some((map, name)) => map.get(name).cloned().unwrap_or_default(),
            None => self.by_sid.keys().copied().collect(),
        }
    }

    /// The entries of one recipient, in order.
    pub(super) fn entries<'a>(&'a self, target: &Target) -> Vec<&'a Entry<M>> {
        match self.index(target) {
            Some((map, name)) => map
                .get(name)
                .into_iter()
                .flatten()
                .filter_map(|sid| self.by_sid.get(sid))
                .collect(),
            None => self.by_sid.values().collect(),
        }
    }

    /// How many sockets one recipient has here.
    pub(super) fn count(&self, target: &Target) -> usize {
        match self.index(target) {
            Some((map, name)) => map.get(name).map_or(0, Vec::len),
            None => self.by_sid.len(),
        }
    }

    /// The socket the targets select when it is exactly one of one recipient's (the common
    /// case of an emit to a user or a client key), without exclusions.
    pub(super) fn single(&self, targets: &[Target], except: &[Target]) -> Option<&SocketRef> {
        let ([one], []) = (targets, except) else {
            return None;
        };
        let (map, name) = self.index(one)?;
        match map.get(name)?.as_slice() {
            [sid] => self.by_sid.get(sid).map(|entry| &entry.socket),
            _ => None,
        }
    }

    /// Whether a recipient has a socket here.
    pub(super) fn holds(&self, target: &Target) -> bool {
        self.count(target) > 0
    }

    /// The names under which a kind of recipient (a user, a channel, a key) has sockets here.
    pub(super) fn names(&self, kind: fn(String) -> Target) -> Vec<String> {
        match self.index(&kind(String::new())) {
            Some((map, _)) => map.keys().cloned().collect(),
            None => Vec::new(),
        }
    }

    /// How many distinct recipients of a kind have sockets here.
    pub(super) fn len_of(&self, kind: fn(String) -> Target) -> usize {
        self.index(&kind(String::new()))
            .map_or(0, |(map, _)| map.len())
    }

    /// `(user, sockets)` for every user with sockets here.
    pub(super) fn users(&self) -> impl Iterator<Item = (&String, &Vec<Sid>)> {
        self.by_user.iter()
    }

    /// The sockets the targets select, minus the exclusions (each socket once).
    pub(super) fn selected<'a>(
        &'a self,
        targets: &[Target],
        except: &[Target],
    ) -> Vec<&'a Entry<M>> {
        if let ([one], []) = (targets, except) {
            return self.entries(one);
        }
        let mut selected: HashSet<Sid> = targets.iter().flat_map(|t| self.sids(t)).collect();
        for sid in except.iter().flat_map(|t| self.sids(t)) {
            selected.remove(&sid);
        }
        selected
            .iter()
            .filter_map(|sid| self.by_sid.get(sid))
            .collect()
    }

    /// How many sockets the targets select, minus the exclusions (each socket once).
    pub(super) fn count_selected(&self, targets: &[Target], except: &[Target]) -> usize {
        if let ([one], []) = (targets, except) {
            // The common case: no set needed.
            return self.count(one);
        }
        let mut selected: HashSet<Sid> = targets.iter().flat_map(|t| self.sids(t)).collect();
        for sid in except.iter().flat_map(|t| self.sids(t)) {
            selected.remove(&sid);
        }
        selected.len()
    }
}
