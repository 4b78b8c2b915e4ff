//! The `/ops/*` requests every tether namespace answers (the table is in
//! [`protocol`](crate::protocol)): connection info, login/logout, channel join/leave and
//! client-to-client relays.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::extract::AckSender;

use super::runtime::{Runtime, connection_info_reply};
use crate::clients::Client;
use crate::error::SocketError;
use crate::listener::{Reply, connection_span, guarded, send_reply};
use crate::namespace::Namespace;
use crate::protocol::{Relay, Target, is_reserved_event, request, validate_channel};

#[derive(Deserialize)]
struct TokenPayload {
    token: String,
}

#[derive(Deserialize)]
struct ChannelPayload {
    channel: String,
}

#[derive(Deserialize)]
struct RelayPayload {
    to: String,
    event: String,
    #[serde(default)]
    data: Value,
}

fn parse<P: serde::de::DeserializeOwned>(
    event: &str,
    payload: Option<Value>,
) -> Result<P, SocketError> {
    serde_json::from_value(payload.unwrap_or(Value::Null))
        .map_err(|e| SocketError::invalid_payload(format!("the `{event}` payload is invalid: {e}")))
}

/// A client's event name as an error message may quote it: at most 64 characters, so that an
/// answer never grows with what a client sends.
fn shortened(event: &str) -> String {
    const MAX: usize = 64;
    match event.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &event[..cut]),
        None => event.to_owned(),
    }
}

impl<T: Namespace> Runtime<T> {
    /// Every event without a user listener: tether's `/ops/*`, or an `unknown_event` error.
    pub(super) async fn on_other_event(
        self: Arc<Self>,
        client: Client<T::Metadata>,
        event: String,
        payload: Result<Value, socketioxide::ParserError>,
        ack: AckSender,
        asked: bool,
    ) {
        let s = client.socket().clone();
        // Ops payloads are single objects; a payload that is not JSON is the same as none.
        let payload = payload.ok();
        let span = tracing::debug_span!(
            parent: connection_span(&s),
            "event",
            event = shortened(&event),
            user = client.user_id().as_deref().unwrap_or("")
        );
        let fut =
            tracing::Instrument::instrument(self.dispatch(&client, &event, payload, asked), span);
        let reply = match guarded(fut, &format!("`{event}`"), &s).await {
            Some(Ok(value)) => Reply::json(value),
            Some(Err(err)) => Reply::error(&err),
            None => Reply::error(&SocketError::internal()),
        };
        send_reply(&s, ack, asked, reply, &event);
    }

    async fn dispatch(
        &self,
        client: &Client<T::Metadata>,
        event: &str,
        payload: Option<Value>,
        asked: bool,
    ) -> Result<Value, SocketError> {
        match event {
            request::CONNECTION => Ok(connection_info_reply(client, asked)),
            request::LOGIN => {
                let TokenPayload { token } = parse(event, payload)?;
                self.relogin(client, Some(token), asked).await
            }
            request::LOGOUT => self.relogin(client, None, asked).await,
            request::JOIN => {
                let ChannelPayload { channel } = parse(event, payload)?;
                validate_channel(&channel)?;
                self.authorize_join(client, &channel).await?;
                self.clients.join_channel(client, &channel);
                Ok(connection_info_reply(client, asked))
            }
            request::LEAVE => {
                let ChannelPayload { channel } = parse(event, payload)?;
                validate_channel(&channel)?;
                if !self.clients.leave_channel(client, &channel) {
                    return Err(SocketError::not_found(format!(
                        "this socket is not in channel `{channel}`"
                    )));
                }
                Ok(connection_info_reply(client, asked))
            }
            request::RELAY_USER | request::RELAY_CHANNEL | request::RELAY_CLIENT => {
                let RelayPayload {
                    to,
                    event: name,
                    data,
                } = parse(event, payload)?;
                let to = match event {
                    request::RELAY_USER => Target::User(to),
                    request::RELAY_CHANNEL => Target::Channel(to),
                    _ => Target::Client(to),
                };
                self.relay(
                    client,
                    Relay {
                        to,
                        event: name,
                        data,
                    },
                )
                .await
            }
            _ => Err(SocketError::new(
                "unknown_event",
                format!("no listener for event `{}`", shortened(event)),
            )),
        }
    }

    async fn relay(
        &self,
        client: &Client<T::Metadata>,
        relay: Relay,
    ) -> Result<Value, SocketError> {
        if relay.event.is_empty() || is_reserved_event(&relay.event) {
            return Err(SocketError::invalid_payload(
                "a relayed event needs a name that does not start with `/ops/` and is not one of \
                 socket.io's reserved names (`connect`, `disconnect`, …)",
            ));
        }
        let Some(hook) = &self.def.authorize_relay else {
            return Err(SocketError::forbidden(
                "client-to-client relay is disabled in this namespace (no relay authorization hook)",
            ));
        };
        let fut = hook(self.state.clone(), client.clone(), relay.clone());
        guarded(fut, "authorize_relay", client.socket())
            .await
            .unwrap_or_else(|| Err(SocketError::internal()))?;
        let delivery = self
            .clients
            .emit_targets(&[relay.to], &[], &relay.event, &relay.data)
            .await
            .map_err(|e| SocketError::new("emit_failed", e.to_string()))?;
        Ok(json!({ "delivered": delivery.sockets }))
    }
}
