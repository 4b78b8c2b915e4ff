//! The `/ops/*` events every tether namespace answers: connection info, login/logout, channel
//! join/leave and client-to-client relays.
//!
//! | client emits | payload | ack |
//! |---|---|---|
//! | `/ops/connection` | none | connection info (also emitted as `/ops/connection-success`) |
//! | `/ops/login` | `{token}` | connection info, or `{"error": ..}` |
//! | `/ops/logout` | none | connection info (`user_id: null`) |
//! | `/ops/join` / `/ops/leave` | `{channel}` | connection info, or `{"error": ..}` |
//! | `/ops/user` / `/ops/channel` / `/ops/client` | `{to, event, data}` | `{delivered}`, or `{"error": ..}` |

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, SocketRef};

use crate::__private::{Reply, to_value};
use crate::client::Client;
use crate::connection::{
    Runtime, client_of, guarded, send_connection_info, send_reply, validate_channel,
};
use crate::error::SocketError;
use crate::expiry;
use crate::namespace::Namespace;
use crate::registry::Target;

/// What a client asks to relay to other clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relay {
    /// Who it is for.
    pub to: Target,
    /// The event the recipients receive.
    pub event: String,
    /// The payload the recipients receive.
    pub data: Value,
}

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

impl<T: Namespace> Runtime<T> {
    /// Every event without a user listener: tether's `/ops/*`, or an `unknown_event` error.
    pub(crate) async fn on_other_event(
        self: Arc<Self>,
        s: SocketRef,
        event: String,
        payload: Result<Value, socketioxide::ParserError>,
        ack: AckSender,
        asked: bool,
    ) {
        let Some(client) = client_of(&s, &self.clients) else {
            return;
        };
        // Ops payloads are single objects; a payload that is not JSON is the same as none.
        let payload = payload.ok();
        let fut = self.dispatch(&client, &event, payload);
        let reply = match guarded(fut, &format!("`{event}`"), &s).await {
            Some(Ok(value)) => Reply::Value(value),
            Some(Err(err)) => Reply::Value(to_value(&err)),
            None => Reply::Value(to_value(&SocketError::internal())),
        };
        send_reply(&s, ack, asked, reply, &event);
    }

    async fn dispatch(
        &self,
        client: &Client<T::Metadata>,
        event: &str,
        payload: Option<Value>,
    ) -> Result<Value, SocketError> {
        match event {
            "/ops/connection" => Ok(self.info(client)),
            "/ops/login" => {
                let TokenPayload { token } = parse(event, payload)?;
                self.login(client, token).await
            }
            "/ops/logout" => {
                let previous = self.clients.set_user(client.id(), None);
                expiry::watch(client, None, self.token_grace);
                self.user_changed(client, previous).await;
                Ok(self.info(client))
            }
            "/ops/join" => {
                let ChannelPayload { channel } = parse(event, payload)?;
                validate_channel(&channel)?;
                self.authorize_join(client, &channel).await?;
                self.clients.join_channel(client, &channel);
                Ok(self.info(client))
            }
            "/ops/leave" => {
                let ChannelPayload { channel } = parse(event, payload)?;
                validate_channel(&channel)?;
                if !self.clients.leave_channel(client, &channel) {
                    return Err(SocketError::not_found(format!(
                        "this socket is not in channel `{channel}`"
                    )));
                }
                Ok(self.info(client))
            }
            "/ops/user" | "/ops/channel" | "/ops/client" => {
                let RelayPayload {
                    to,
                    event: name,
                    data,
                } = parse(event, payload)?;
                let to = match event {
                    "/ops/user" => Target::User(to),
                    "/ops/channel" => Target::Channel(to),
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
                format!("no listener for event `{event}`"),
            )),
        }
    }

    /// Connection info: emitted as `/ops/connection-success` to this socket, and returned for the ack.
    fn info(&self, client: &Client<T::Metadata>) -> Value {
        send_connection_info(client);
        serde_json::to_value(client.connection_info()).unwrap_or(Value::Null)
    }

    async fn login(
        &self,
        client: &Client<T::Metadata>,
        token: String,
    ) -> Result<Value, SocketError> {
        let Some(verifier) = &self.login else {
            return Err(SocketError::new(
                "login_unavailable",
                "this server accepts no login on a live socket (no login verifier is configured)",
            ));
        };
        let login = verifier.0.verify(token).await?;
        // The fresh token's expiry replaces the old one (an expired socket is saved by this).
        expiry::watch(client, login.expires_at, self.token_grace);
        let previous = self.clients.set_user(client.id(), Some(login.user_id));
        self.enforce_cap(client);
        self.user_changed(client, previous).await;
        Ok(self.info(client))
    }

    /// Runs the `on_user_change` hook when the socket's user really changed.
    async fn user_changed(&self, client: &Client<T::Metadata>, previous: Option<Option<String>>) {
        let (Some(previous), Some(hook)) = (previous, &self.def.on_user_change) else {
            return;
        };
        if previous != client.user_id() {
            let fut = hook(self.state.clone(), client.clone(), previous);
            guarded(fut, "on_user_change", client.socket()).await;
        }
    }

    async fn relay(
        &self,
        client: &Client<T::Metadata>,
        relay: Relay,
    ) -> Result<Value, SocketError> {
        if relay.event.is_empty() || relay.event.starts_with("/ops/") {
            return Err(SocketError::invalid_payload(
                "a relayed event needs a name that does not start with `/ops/`",
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
