//! The life of one connection: handshake → middleware → register → connection info →
//! `on_connect`; disconnect → unregister → `on_disconnect`.

use std::sync::Arc;

use serde_json::Value;
use socketioxide::extract::{AckSender, Event, SocketRef, TryData};
use socketioxide::socket::DisconnectReason;

use super::admission;
use super::expiry;
use super::identity::Identity;
use super::per_ip::{IpSlot, PerIp};
use super::runtime::Runtime;
use crate::clients::{Client, ClientData};
use crate::handshake::{Handshake, SocketNok};
use crate::listener::{
    AckAsked, ConnectionSpan, Policy, client_of, connection_span, guarded, schedule,
};
use crate::metrics;
use crate::namespace::Namespace;
use crate::protocol::{CHANNEL_QUERY, validate_channel};
use crate::rate::Throttle;
use crate::recovery::{self, Cursor, Position, Request};
use crate::serial::{Job, Serial};

impl<T: Namespace> Runtime<T> {
    /// Runs the middleware and, when it accepts, prepares the socket before the CONNECT packet
    /// goes out: its data in the extensions and its listeners registered, so that an event sent
    /// right after connecting is never lost.
    pub(super) async fn admit(
        self: &Arc<Self>,
        s: &SocketRef,
        auth: Value,
    ) -> Result<(), SocketNok> {
        if self
            .settings
            .closing
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Err(SocketNok::with_code(
                "server_shutdown",
                "this server is shutting down; connect again (another node takes over)",
            ));
        }
        let span = tracing::debug_span!(
            "connection",
            ns = T::PATH,
            sid = %s.id,
            user = tracing::field::Empty
        );
        s.extensions.insert(ConnectionSpan(span.clone()));
        let recover = match self.def.recovery {
            Some(_) => recovery::request(&auth)
                .map_err(|why| SocketNok::with_code("invalid_recover", why))?,
            None => None,
        };
        let parts = s.req_parts();
        let ip = PerIp::peer(parts);
        // Held while the middleware decides: an address may not pile up pending handshakes.
        let _pending = ip
            .map(|ip| self.settings.per_ip.handshake(ip))
            .transpose()?;
        let hs = Handshake::new(
            s.id.to_string(),
            T::PATH.to_owned(),
            auth,
            parts.uri.query(),
            parts.headers.clone(),
        )
        .with_origins(self.settings.allowed_origins.as_ref());
        let channels = requested_channels(&hs)?;
        let asked = recover.is_some();
        let invalid_offset = recover.as_ref().is_some_and(|r| r.offset.is_none());
        let (since, recovered_channels) = match recover {
            Some(Request {
                offset: Some(offset),
                channels,
            }) => (Some(offset), channels),
            // Recovery on: from the head now, before the client sees `connect`.
            Some(Request { channels, .. }) => (self.clients.head().await, channels),
            None => (self.clients.head().await, Vec::new()),
        };
        let Identity {
            metadata,
            user,
            key,
            expires_at,
        } = tracing::Instrument::instrument(self.decide(s, hs), span.clone()).await?;
        if let Some(user) = &user {
            span.record("user", user.as_str());
        }
        if let Some(ip) = ip {
            // Freed when the socket is gone (its extensions are dropped with it).
            s.extensions
                .insert(Arc::new(self.settings.per_ip.socket(ip)?));
        }
        let key = key.unwrap_or_else(|| s.id.to_string());
        let serial = Serial::start(self.settings.max_pending_events);
        let gate = self.settings.connect_gate;
        let throttle = Throttle::new(self.def.rate_limit.or(self.settings.rate_limit));
        let cursor = match self.def.recovery {
            // Held until `connected` has sent what the socket missed.
            Some(_) => Cursor::held(),
            None => Cursor::live(),
        };
        let data = Arc::new(ClientData::new(
            key, metadata, user, serial, throttle, gate, cursor,
        ));
        // The timer starts once the socket is connected (`connected`).
        data.expiry().at = expires_at;
        s.extensions.insert(data.clone());
        if !channels.is_empty() || !recovered_channels.is_empty() {
            let client = Client::new(data.clone(), s.clone(), self.clients.clone());
            for channel in channels {
                self.authorize_join(&client, &channel).await?;
                data.session().channels.insert(channel);
            }
            // The channels a reconnecting client was in: joined again when still allowed (a
            // refusal leaves the channel out rather than the connection).
            for channel in recovered_channels {
                match self.authorize_join(&client, &channel).await {
                    Ok(()) => {
                        data.session().channels.insert(channel);
                    }
                    Err(e) => {
                        tracing::debug!(sid = %s.id, channel, code = e.code(), "channel not rejoined on recovery");
                    }
                }
            }
        }
        s.extensions.insert(RecoverFrom {
            since,
            asked,
            invalid_offset,
        });
        for listener in &self.def.listeners {
            listener.register(s, &self.state, &self.clients);
        }
        let rt = self.clone();
        s.on_fallback(
            move |s: SocketRef,
                  Event(event): Event,
                  TryData(payload): TryData<Value>,
                  ack: AckSender,
                  asked: AckAsked|
                  -> Job {
                let Some(client) = client_of(&s, &rt.clients) else {
                    return Box::pin(std::future::ready(()));
                };
                rt.clients.count_ops_event(&event);
                let rt = rt.clone();
                let job = schedule(
                    &client.clone(),
                    &Policy::default(),
                    ack,
                    asked.0,
                    &event.clone(),
                    move |ack| {
                        Box::pin(async move {
                            rt.on_other_event(client, event, payload, ack, asked.0)
                                .await
                        })
                    },
                );
                job.unwrap_or_else(|| Box::pin(std::future::ready(())))
            },
        );
        let rt = self.clone();
        s.on_disconnect(move |s: SocketRef, reason: DisconnectReason| {
            let rt = rt.clone();
            async move { rt.disconnected(s, reason).await }
        });
        Ok(())
    }

    pub(super) async fn connected(&self, s: SocketRef) {
        let Some(data) = s.extensions.get::<Arc<ClientData<T::Metadata>>>() else {
            tracing::error!(sid = %s.id, "connected socket has no tether data");
            return;
        };
        let client = self.clients.insert(data.clone(), s.clone());
        // Counted with the insert: the disconnect handler may remove (and count) it from now on.
        metrics::connection(T::PATH);
        if data.is_closed() || !s.connected() {
            // socketioxide spawns this handler, and a socket can close before it runs (even
            // before socketioxide marks it connected): its disconnect handler then found nothing
            // to unregister. `closed` is set before that handler unregisters, and checked here
            // after the insert, so one of the two always removes the entry.
            self.clients.remove(s.id);
            tracing::debug!(sid = %s.id, ns = T::PATH, "socket closed before its connect handler ran");
            return;
        }
        tracing::debug!(sid = %s.id, ns = T::PATH, key = client.key(), "client connected");
        self.enforce_cap(&client);
        let from = s.extensions.remove::<RecoverFrom>();
        let (since, asked) = from.map_or((None, false), |f| (f.since, f.asked));
        let mut recovery = self.clients.recover(&client, since, asked).await;
        if let (Some(info), Some(true)) = (&mut recovery, from.map(|f| f.invalid_offset)) {
            // Live from the head: what came before the reconnect is not known.
            info.recovered = false;
            info.reason = Some("invalid_offset".to_owned());
        }
        client.send_connection_info(recovery);
        self.hand_kept(&client);
        expiry::watch(
            &client,
            client.token_expires_at(),
            self.settings.token_grace,
        );
        if let Some(hook) = &self.def.on_connect {
            let hook = hook(self.state.clone(), client);
            let hook = tracing::Instrument::instrument(hook, connection_span(&s));
            guarded(hook, "on_connect", &s).await;
        }
        data.open_gate();
        // Its connect is done: the node can take the next new connection.
        admission::release(s.req_parts());
    }

    pub(super) async fn disconnected(&self, s: SocketRef, reason: DisconnectReason) {
        if let Some(data) = s.extensions.get::<Arc<ClientData<T::Metadata>>>() {
            data.close();
            expiry::stop(&data);
            data.open_gate();
        }
        s.extensions.remove::<Arc<IpSlot>>();
        let Some(client) = self.clients.remove(s.id) else {
            return;
        };
        tracing::debug!(sid = %s.id, ns = T::PATH, key = client.key(), ?reason, "client disconnected");
        metrics::disconnect(T::PATH, reason);
        if let Some(hook) = &self.def.on_disconnect {
            let hook = hook(self.state.clone(), client, reason);
            let hook = tracing::Instrument::instrument(hook, connection_span(&s));
            guarded(hook, "on_disconnect", &s).await;
        }
    }
}

/// Where a connecting socket's history starts (recovery on), kept in its extensions from the
/// middleware to the connect handler: the offset it asked to recover from, or the history's
/// head before its CONNECT packet went out.
#[derive(Clone, Copy)]
struct RecoverFrom {
    since: Option<Position>,
    /// Whether the client asked (`auth.recover`): then it is told what was recovered.
    asked: bool,
    /// The client's offset was not a position: it is told `invalid_offset`.
    invalid_offset: bool,
}

impl<T: Namespace> Runtime<T> {
    /// Hands the socket what its user's offline inbox kept, on its own task (the acks are
    /// awaited there).
    pub(super) fn hand_kept(&self, client: &Client<T::Metadata>) {
        if client.user_id().is_none() {
            return;
        }
        let (clients, client) = (self.clients.clone(), client.clone());
        tokio::spawn(async move { clients.deliver_kept(&client).await });
    }
}

/// The channels named in the connection query (`channel_id=a,b`), validated.
fn requested_channels(hs: &Handshake) -> Result<Vec<String>, SocketNok> {
    let Some(raw) = hs.query(CHANNEL_QUERY) else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            validate_channel(c)
                .map(|()| c.to_owned())
                .map_err(SocketNok::from)
        })
        .collect()
}
