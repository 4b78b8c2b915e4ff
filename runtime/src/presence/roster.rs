//! The groups of embedded mode: each group's users with their sockets, and the departures
//! waiting for their grace.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::{Change, Group};

/// Who is in which group on this node (embedded mode).
#[derive(Debug, Default)]
pub(crate) struct Roster {
    groups: HashMap<Group, HashMap<String, HashSet<String>>>,
    /// Users whose last socket left a group, with when the departure counts.
    departing: HashMap<(Group, String), Instant>,
}

impl Roster {
    /// Socket `sid` of `user` entered `group`; `true` when that is an arrival to announce (the
    /// user's first socket, and not a return within the grace).
    pub(crate) fn add(&mut self, group: &Group, user: &str, sid: &str) -> bool {
        let sockets = self
            .groups
            .entry(group.clone())
            .or_default()
            .entry(user.to_owned())
            .or_default();
        if !sockets.insert(sid.to_owned()) || sockets.len() > 1 {
            return false;
        }
        self.departing
            .remove(&(group.clone(), user.to_owned()))
            .is_none()
    }

    /// Socket `sid` of `user` left `group`; `true` when it was the user's last one there: the
    /// departure counts at `due` (see [`settle`](Self::settle)).
    pub(crate) fn remove(&mut self, group: &Group, user: &str, sid: &str, due: Instant) -> bool {
        let Some(users) = self.groups.get_mut(group) else {
            return false;
        };
        let Some(sockets) = users.get_mut(user) else {
            return false;
        };
        if !sockets.remove(sid) || !sockets.is_empty() {
            return false;
        }
        users.remove(user);
        if users.is_empty() {
            self.groups.remove(group);
        }
        self.departing.insert((group.clone(), user.to_owned()), due);
        true
    }

    /// The departures due by `now`, each taken once.
    pub(crate) fn settle(&mut self, now: Instant) -> Vec<Change> {
        let due: Vec<(Group, String)> = self
            .departing
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        due.into_iter()
            .map(|key| {
                self.departing.remove(&key);
                let (group, user) = key;
                Change {
                    group,
                    user,
                    joined: false,
                }
            })
            .collect()
    }

    /// The users of `group`, those within their grace included.
    pub(crate) fn members(&self, group: &Group) -> Vec<String> {
        let mut users: Vec<String> = self
            .groups
            .get(group)
            .into_iter()
            .flat_map(|users| users.keys().cloned())
            .chain(
                self.departing
                    .keys()
                    .filter(|(g, _)| g == group)
                    .map(|(_, user)| user.clone()),
            )
            .collect();
        users.sort();
        users.dedup();
        users
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::Roster;
    use crate::presence::{Change, Group};

    #[test]
    fn a_user_arrives_once_and_departs_after_the_grace_unless_back() {
        let room = Group::Channel("room".into());
        let mut roster = Roster::default();
        let now = Instant::now();
        let due = now + Duration::from_secs(5);
        assert!(roster.add(&room, "alice", "s1"), "first socket: arrival");
        assert!(!roster.add(&room, "alice", "s2"), "second tab: nothing");
        assert!(
            !roster.add(&room, "alice", "s2"),
            "the same socket twice: nothing"
        );
        assert!(
            !roster.remove(&room, "alice", "s1", due),
            "a tab left, one stays"
        );
        assert!(
            roster.remove(&room, "alice", "s2", due),
            "the last one left"
        );
        assert_eq!(
            roster.members(&room),
            ["alice"],
            "still a member in the grace"
        );
        assert!(roster.settle(now).is_empty(), "not due yet");
        assert!(
            !roster.add(&room, "alice", "s3"),
            "back within the grace: nothing"
        );
        assert!(
            roster.settle(due).is_empty(),
            "the departure was called off"
        );
        assert!(roster.remove(&room, "alice", "s3", due));
        assert_eq!(
            roster.settle(due),
            [Change {
                group: room.clone(),
                user: "alice".into(),
                joined: false
            }]
        );
        assert!(roster.settle(due).is_empty(), "announced once");
        assert!(roster.members(&room).is_empty());
        assert!(!roster.remove(&room, "alice", "s3", due), "unknown socket");
        assert!(
            roster.add(&room, "alice", "s4"),
            "a new arrival after the departure"
        );
        assert!(roster.members(&Group::Users).is_empty(), "groups are apart");
    }
}
