//! The cluster behind the [`Remote`] port: how the map's requests become Redis work.

use std::sync::PoisonError;
use std::time::Duration;

use serde_json::value::RawValue;

use super::config::ClusterState;
use super::node::{Cluster, Namespaced};
use super::presence::{cluster_view, online_nodes};
use crate::acks::SocketAck;
use crate::delivery::EmitError;
use crate::offline::Kept;
use crate::presence::Group;
use crate::protocol::Target;
use crate::recovery::{Missed, Position, Recovery};
use crate::remote::{
    ClusterView, Order, PresenceSource, Remote, RemoteFuture, Resync, RosterHooks, Sink,
};

impl Remote for Cluster {
    fn node_id(&self) -> Option<&str> {
        Cluster::node_id(self)
    }

    fn is_connected(&self) -> bool {
        self.state() == ClusterState::Connected
    }

    fn attach(
        &self,
        ns: &str,
        sink: Sink,
        presence: PresenceSource,
        resync: Resync,
        roster: Option<RosterHooks>,
    ) {
        self.namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                ns.to_owned(),
                Namespaced {
                    sink,
                    presence,
                    resync,
                    roster,
                },
            );
    }

    fn follow(&self, ns: &str, target: &Target, yes: bool) {
        Cluster::follow(self, ns, target, yes);
    }

    fn set_presence(&self, ns: &str, user: &str, sid: &str, present: bool) {
        self.writers.set(ns, user, sid, present);
    }

    fn set_member(&self, ns: &str, group: &Group, user: &str, sid: &str, present: bool) {
        self.writers.member(ns, group, user, sid, present);
    }

    fn members<'a>(
        &'a self,
        ns: &'a str,
        group: &'a Group,
    ) -> RemoteFuture<'a, Option<Vec<String>>> {
        // This node's own changes first (a socket that just joined is a member); bounded, as
        // the writes queued ahead may be many after a reconnection.
        let flushed = self.writers.flush();
        Box::pin(async move {
            let _ = tokio::time::timeout(super::transport::TIMEOUT, flushed).await;
            super::roster::members(self, ns, group).await
        })
    }

    fn admit(
        &self,
        ns: &str,
        targets: &[Target],
        except: &[Target],
        order: &Order<'_>,
    ) -> Result<(), EmitError> {
        Cluster::admit(self, ns, targets, except, order)
    }

    fn publish<'a>(
        &'a self,
        ns: &'a str,
        targets: &'a [Target],
        except: &'a [Target],
        order: Order<'a>,
    ) -> RemoteFuture<'a, Option<usize>> {
        Box::pin(Cluster::publish(self, ns, targets, except, order))
    }

    fn cap(
        &self,
        ns: &str,
        user: &str,
        sid: &str,
        cap: usize,
    ) -> RemoteFuture<'static, Option<Vec<(String, String)>>> {
        Box::pin(self.writers.cap(ns, user, sid, cap))
    }

    fn user_nodes<'a>(
        &'a self,
        ns: &'a str,
        user: &'a str,
    ) -> RemoteFuture<'a, Option<Vec<(String, usize)>>> {
        Box::pin(online_nodes(self, ns, user))
    }

    fn view<'a>(&'a self, ns: &'a str) -> RemoteFuture<'a, Option<ClusterView>> {
        Box::pin(cluster_view(self, ns))
    }

    fn record<'a>(
        &'a self,
        ns: &'a str,
        targets: &'a [Target],
        except: &'a [Target],
        order: Order<'a>,
        recovery: Recovery,
    ) -> RemoteFuture<'a, Option<(Position, usize)>> {
        Box::pin(Cluster::record(self, ns, targets, except, order, recovery))
    }

    fn emit_with_ack<'a>(
        &'a self,
        ns: &'a str,
        targets: &'a [Target],
        except: &'a [Target],
        event: &'a str,
        data: &'a RawValue,
        timeout: Duration,
    ) -> RemoteFuture<'a, Option<Vec<SocketAck>>> {
        Box::pin(Cluster::emit_with_ack(
            self, ns, targets, except, event, data, timeout,
        ))
    }

    fn membership<'a>(
        &'a self,
        ns: &'a str,
        targets: &'a [Target],
        except: &'a [Target],
        channel: &'a str,
        join: bool,
        timeout: Duration,
    ) -> RemoteFuture<'a, Option<Vec<SocketAck>>> {
        Box::pin(Cluster::membership(
            self, ns, targets, except, channel, join, timeout,
        ))
    }

    fn fetch<'a>(
        &'a self,
        ns: &'a str,
        targets: &'a [Target],
        except: &'a [Target],
        timeout: Duration,
    ) -> RemoteFuture<'a, Option<Vec<SocketAck>>> {
        Box::pin(Cluster::fetch(self, ns, targets, except, timeout))
    }

    fn reply_acks(
        &self,
        to: &str,
        request: &str,
        acks: Vec<SocketAck>,
    ) -> RemoteFuture<'static, ()> {
        Cluster::reply_acks(self, to, request, acks)
    }

    fn keep<'a>(&'a self, ns: &'a str, user: &'a str, kept: Vec<Kept>) -> RemoteFuture<'a, bool> {
        Box::pin(Cluster::keep(self, ns, user, kept))
    }

    fn take_kept<'a>(&'a self, ns: &'a str, user: &'a str) -> RemoteFuture<'a, Option<Vec<Kept>>> {
        Box::pin(Cluster::take_kept(self, ns, user))
    }

    fn followed(&self) -> RemoteFuture<'static, bool> {
        Cluster::followed(self)
    }

    fn missed<'a>(
        &'a self,
        ns: &'a str,
        streams: &'a [Target],
        since: Option<Position>,
        recovery: Recovery,
    ) -> RemoteFuture<'a, Option<Missed>> {
        Box::pin(Cluster::missed(self, ns, streams, since, recovery))
    }
}
