//! Presence: who is in a group — a channel's members, or a namespace's signed-in users — each
//! user once whatever their sockets and nodes, with a grace before a departure counts.
//!
//! A user *arrives* in a group when their first socket anywhere enters it, and *departs* when
//! their last socket anywhere has been out of it for the grace ([`Presence::grace`]): a socket
//! that reconnects within the grace (a page reload, a network blip, a node drained) changes
//! nothing. Each change is announced once, cluster-wide:
//! - a channel's members receive [`MEMBER_JOINED_EVENT`] / [`MEMBER_LEFT_EVENT`]
//!   `{"channel", "user"}` (namespaces with [`NamespaceDef::presence`](crate::NamespaceDef::presence));
//! - the namespace's `#[on_user_online]` / `#[on_user_offline]` hooks run on one node.
//!
//! `roster`: the groups of embedded mode (cluster mode keeps them in Redis).

mod roster;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub(crate) use roster::Roster;

/// The grace of presence unless the namespace or the builder sets one: a user whose last socket
/// left is still a member for this long, so a reload or a blip announces nothing.
pub const DEFAULT_PRESENCE_GRACE: Duration = Duration::from_secs(5);

/// The event a channel's members receive when a user's first socket anywhere joined it:
/// `{"channel": "…", "user": "…"}` (not sent to the user's own sockets).
pub const MEMBER_JOINED_EVENT: &str = "member_joined";

/// The event a channel's members receive when a user's last socket anywhere left it (and did
/// not come back within the grace): `{"channel": "…", "user": "…"}`.
pub const MEMBER_LEFT_EVENT: &str = "member_left";

type ChannelFilter = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Channel presence for a namespace: members listed cluster-wide, each user once, and told
/// when a user joins or leaves (see the module docs of [`MEMBER_JOINED_EVENT`]).
///
/// `#[socket_namespace(presence = true)]` turns it on for every channel with the builder's
/// grace ([`TetherBuilder::presence_grace`](crate::TetherBuilder::presence_grace), default
/// [`DEFAULT_PRESENCE_GRACE`]); `presence = "2s"` sets the namespace's own. By hand, it can be
/// limited to some channels:
///
/// ```
/// use std::time::Duration;
/// use tether::Presence;
///
/// let presence = Presence::new()
///     .grace(Duration::from_secs(3))
///     .channels(|channel| channel.starts_with("room:"));
/// assert!(presence.tracks("room:lobby"));
/// assert!(!presence.tracks("ticker"));
/// assert_eq!(presence.grace_or(Duration::ZERO), Duration::from_secs(3));
/// ```
#[derive(Clone, Default)]
pub struct Presence {
    grace: Option<Duration>,
    channels: Option<ChannelFilter>,
}

impl fmt::Debug for Presence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presence")
            .field("grace", &self.grace)
            .field("every_channel", &self.channels.is_none())
            .finish()
    }
}

impl Presence {
    /// Presence on every channel, with the builder's grace.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a user whose last socket left stays a member (a reconnection within it
    /// announces nothing); instead of the builder's.
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// Tracks only the channels `filter` accepts.
    #[must_use]
    pub fn channels(mut self, filter: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.channels = Some(Arc::new(filter));
        self
    }

    /// Whether the members of `channel` are tracked.
    pub fn tracks(&self, channel: &str) -> bool {
        self.channels.as_ref().is_none_or(|filter| filter(channel))
    }

    /// The grace: the namespace's own, or `default` (the builder's).
    pub fn grace_or(&self, default: Duration) -> Duration {
        self.grace.unwrap_or(default)
    }
}

/// What a namespace tracks, as its map needs it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tracking {
    /// The namespace's users (it has `on_user_online` / `on_user_offline` hooks).
    pub(crate) users: bool,
    /// Channel presence.
    pub(crate) channels: Option<Presence>,
    /// The grace of departures.
    pub(crate) grace: Duration,
}

impl Tracking {
    /// Whether anything is tracked.
    pub(crate) fn is_on(&self) -> bool {
        self.users || self.channels.is_some()
    }

    /// Whether the members of `channel` are tracked.
    pub(crate) fn tracks(&self, channel: &str) -> bool {
        self.channels.as_ref().is_some_and(|p| p.tracks(channel))
    }

    /// The tracked groups of a socket of a user in `channels`.
    pub(crate) fn groups<'a>(&self, channels: impl IntoIterator<Item = &'a String>) -> Vec<Group> {
        let users = self.users.then_some(Group::Users);
        users
            .into_iter()
            .chain(
                channels
                    .into_iter()
                    .filter(|c| self.tracks(c))
                    .map(|c| Group::Channel(c.clone())),
            )
            .collect()
    }
}

/// A group whose users are tracked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Group {
    /// The namespace's signed-in users (for `on_user_online` / `on_user_offline`).
    Users,
    /// A channel's members.
    Channel(String),
}

impl Group {
    /// Its name in Redis keys: `u`, or `c:{channel}`.
    pub(crate) fn encode(&self) -> String {
        match self {
            Self::Users => "u".to_owned(),
            Self::Channel(c) => format!("c:{c}"),
        }
    }

    /// The group named by [`encode`](Self::encode).
    pub(crate) fn decode(name: &str) -> Option<Self> {
        match name {
            "u" => Some(Self::Users),
            _ => name.strip_prefix("c:").map(|c| Self::Channel(c.to_owned())),
        }
    }
}

/// A user arrived in a group (`joined`) or departed from it, to announce once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) group: Group,
    pub(crate) user: String,
    pub(crate) joined: bool,
}

/// The payload of [`MEMBER_JOINED_EVENT`] and [`MEMBER_LEFT_EVENT`].
#[derive(Debug, Serialize)]
pub(crate) struct MemberChange<'a> {
    pub(crate) channel: &'a str,
    pub(crate) user: &'a str,
}

/// Announces presence changes of one namespace (set by the connection layer).
pub(crate) type Announce = Arc<dyn Fn(Change) + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::Group;

    #[test]
    fn group_names_round_trip() {
        for group in [Group::Users, Group::Channel("room:a.b".into())] {
            assert_eq!(Group::decode(&group.encode()), Some(group));
        }
        assert_eq!(Group::decode("x"), None);
    }
}
