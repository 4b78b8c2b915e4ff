//! Changes to who a socket is: its user, its channels, and kicks.

use socketioxide::socket::Sid;

use super::client::Client;
use super::map::ConnectedClients;
use crate::protocol::{Kick, Target};

impl<M: Send + Sync + 'static> ConnectedClients<M> {
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
        let mut indexes = self.write();
        let entry = indexes.by_sid.get(&sid)?;
        let (data, socket) = (entry.data.clone(), entry.socket.clone());
        let old = std::mem::replace(&mut data.session().user, user.clone());
        if old != user {
            // The socket's tracked groups (none when the namespace tracks nothing).
            let groups = self.groups_of(&data.session().channels);
            if let Some(old) = &old {
                self.index_remove(&mut indexes, &Target::User(old.clone()), &socket);
                self.roster(old, &groups, sid, false);
            }
            if let Some(new) = user {
                self.index_add(&mut indexes, &Target::User(new.clone()), &socket);
                self.roster(&new, &groups, sid, true);
            }
        }
        Some(old)
    }

    /// Adds a socket to a channel (no authorization check: server code decides).
    /// Returns `false` when the socket is not connected here.
    pub fn join_channel(&self, client: &Client<M>, channel: &str) -> bool {
        let mut indexes = self.write();
        if !indexes.by_sid.contains_key(&client.id()) {
            return false;
        }
        if client.data().session().channels.insert(channel.to_owned()) {
            let target = Target::Channel(channel.to_owned());
            self.index_add(&mut indexes, &target, client.socket());
            if let Some(user) = client.user_id() {
                let groups = self.channel_group(channel);
                self.roster(&user, &groups, client.id(), true);
            }
        }
        true
    }

    /// Removes a socket from a channel. Returns whether it was a member.
    pub fn leave_channel(&self, client: &Client<M>, channel: &str) -> bool {
        let mut indexes = self.write();
        let removed = client.data().session().channels.remove(channel);
        if removed {
            let target = Target::Channel(channel.to_owned());
            self.index_remove(&mut indexes, &target, client.socket());
            if let Some(user) = client.user_id() {
                let groups = self.channel_group(channel);
                self.roster(&user, &groups, client.id(), false);
            }
        }
        removed
    }

    /// Disconnects every socket of a user on this node, telling each why first
    /// ([`DISCONNECTED_EVENT`](crate::DISCONNECTED_EVENT)). Returns how many sockets were
    /// disconnected.
    pub fn kick_user(&self, user: &str, kick: &Kick) -> usize {
        self.kick(&Target::User(user.to_owned()), kick)
    }

    /// Disconnects every local socket of a recipient, telling each why first.
    pub(crate) fn kick(&self, target: &Target, kick: &Kick) -> usize {
        self.kick_selected(std::slice::from_ref(target), &[], kick)
    }

    /// Disconnects every local socket of `targets` but `except`, telling each why first.
    pub(crate) fn kick_selected(
        &self,
        targets: &[Target],
        except: &[Target],
        kick: &Kick,
    ) -> usize {
        // Collected first: a kick unregisters its socket, which takes the map's lock.
        let sockets: Vec<Client<M>> = {
            let indexes = self.read();
            let selected = indexes.selected(targets, except);
            selected.into_iter().map(|e| self.client(e)).collect()
        };
        for client in &sockets {
            client.kick(kick);
        }
        sockets.len()
    }
}
