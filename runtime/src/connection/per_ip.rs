//! Per-address limits: how many sockets one IP address may hold, and how many of its handshakes
//! may be in the middleware at once.
//!
//! The address is the TCP peer, which axum hands to the app when it is served with
//! `into_make_service_with_connect_info::<SocketAddr>()`; without it tether cannot tell clients
//! apart and these limits do not apply (behind a proxy, every client has the proxy's address:
//! raise the limits or leave them to the proxy).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::ConnectInfo;
use http::request::Parts;

use crate::handshake::SocketNok;

/// The limits, and what each address holds now.
#[derive(Debug)]
pub(crate) struct PerIp {
    max_sockets: usize,
    max_handshakes: usize,
    held: Mutex<HashMap<IpAddr, Held>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Held {
    sockets: usize,
    handshakes: usize,
}

/// What one slot counts.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Socket,
    Handshake,
}

/// A socket or handshake counted against its address until dropped.
#[derive(Debug)]
pub(crate) struct IpSlot {
    limits: Arc<PerIp>,
    ip: IpAddr,
    slot: Slot,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut held = self.limits.lock();
        if let Some(entry) = held.get_mut(&self.ip) {
            match self.slot {
                Slot::Socket => entry.sockets = entry.sockets.saturating_sub(1),
                Slot::Handshake => entry.handshakes = entry.handshakes.saturating_sub(1),
            }
            if entry.sockets == 0 && entry.handshakes == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

impl PerIp {
    pub(crate) fn new(max_sockets: usize, max_handshakes: usize) -> Arc<Self> {
        Arc::new(Self {
            max_sockets,
            max_handshakes,
            held: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Held>> {
        // Counter updates are single assignments; a poisoned lock holds consistent data.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The peer address of a request, when the app was served with connect info.
    pub(crate) fn peer(parts: &Parts) -> Option<IpAddr> {
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
    }

    /// Counts a handshake entering the middleware, or refuses it (`too_many_handshakes`).
    pub(crate) fn handshake(self: &Arc<Self>, ip: IpAddr) -> Result<IpSlot, SocketNok> {
        self.take(ip, Slot::Handshake).ok_or_else(|| {
            SocketNok::with_code(
                "too_many_handshakes",
                format!(
                    "this address already has {} handshakes in progress; wait for them",
                    self.max_handshakes
                ),
            )
        })
    }

    /// Counts a connected socket, or refuses it (`too_many_connections`).
    pub(crate) fn socket(self: &Arc<Self>, ip: IpAddr) -> Result<IpSlot, SocketNok> {
        self.take(ip, Slot::Socket).ok_or_else(|| {
            SocketNok::with_code(
                "too_many_connections",
                format!(
                    "this address already holds {} connections; close one first",
                    self.max_sockets
                ),
            )
        })
    }

    fn take(self: &Arc<Self>, ip: IpAddr, slot: Slot) -> Option<IpSlot> {
        let mut held = self.lock();
        let entry = held.entry(ip).or_default();
        let (count, max) = match slot {
            Slot::Socket => (&mut entry.sockets, self.max_sockets),
            Slot::Handshake => (&mut entry.handshakes, self.max_handshakes),
        };
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            limits: Arc::clone(self),
            ip,
            slot,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_address_is_counted_apart_and_a_dropped_slot_frees_its_place() {
        let limits = PerIp::new(2, 1);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = limits.socket(a).unwrap();
        let _second = limits.socket(a).unwrap();
        assert_eq!(limits.socket(a).unwrap_err().code(), "too_many_connections");
        let _other = limits.socket(b).unwrap();
        drop(first);
        let _third = limits.socket(a).unwrap();
        let hs = limits.handshake(a).unwrap();
        assert_eq!(
            limits.handshake(a).unwrap_err().code(),
            "too_many_handshakes"
        );
        drop(hs);
        drop(limits.handshake(a).unwrap());
        drop((_second, _other, _third));
        assert!(
            limits.lock().is_empty(),
            "no entry is kept for an address that holds nothing"
        );
    }
}
