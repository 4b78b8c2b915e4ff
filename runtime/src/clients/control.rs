//! Channel membership changed from anywhere: the sockets of a user or a client key put into a
//! channel or taken out, on this node and (through the [`Remote`](crate::remote::Remote) port)
//! on every other, each told its new connection info.

use std::time::Duration;

use serde_json::json;

use super::map::ConnectedClients;
use crate::acks::SocketAck;
use crate::delivery::EmitError;
use crate::protocol::{Target, validate_channel};

impl<M: Send + Sync + 'static> ConnectedClients<M> {
    /// Puts the selected sockets of this node into `channel` (`join`) or takes them out, each
    /// told its new connection info; one answer per socket, with its channels now.
    pub(crate) fn membership_local(
        &self,
        targets: &[Target],
        except: &[Target],
        channel: &str,
        join: bool,
    ) -> Vec<SocketAck> {
        let node = self.node_name();
        let clients: Vec<_> = self
            .read()
            .selected(targets, except)
            .into_iter()
            .map(|e| self.client(e))
            .collect();
        clients
            .into_iter()
            .map(|client| {
                if join {
                    self.join_channel(&client, channel);
                } else {
                    self.leave_channel(&client, channel);
                }
                client.send_connection_info(None);
                let channels = json!(client.channels());
                SocketAck::new(client.id().to_string(), node.clone(), Ok(channels))
            })
            .collect()
    }

    /// The connection info of the selected sockets of this node, as answers.
    pub(crate) fn fetch_local(&self, targets: &[Target], except: &[Target]) -> Vec<SocketAck> {
        let node = self.node_name();
        self.read()
            .selected(targets, except)
            .into_iter()
            .map(|e| {
                let mut info = serde_json::to_value(self.client(e).connection_info())
                    .unwrap_or(serde_json::Value::Null);
                if let (Some(share), Some(fields)) =
                    (self.inner().share.get(), info.as_object_mut())
                {
                    fields.insert("metadata".to_owned(), share(&e.data.metadata));
                }
                SocketAck::new(e.socket.id.to_string(), node.clone(), Ok(info))
            })
            .collect()
    }

    /// [`fetch_local`](Self::fetch_local) on every node, within `timeout`.
    pub(crate) async fn fetch(
        &self,
        targets: &[Target],
        except: &[Target],
        timeout: Duration,
    ) -> Vec<SocketAck> {
        let mut answers = self.fetch_local(targets, except);
        if let Some(remote) = self.remote() {
            let others = remote
                .fetch(self.namespace(), targets, except, timeout)
                .await;
            answers.extend(others.unwrap_or_default());
        }
        answers
    }

    /// This node's name in answers: its id, or `local` in embedded mode.
    fn node_name(&self) -> String {
        self.remote()
            .and_then(|r| r.node_id())
            .unwrap_or("local")
            .to_owned()
    }

    /// [`membership_local`](Self::membership_local) on every node; returns once every node
    /// answered (each follows the channel by then, so emits to it that follow reach the
    /// sockets), or after `timeout`.
    pub(crate) async fn membership(
        &self,
        targets: &[Target],
        except: &[Target],
        channel: &str,
        join: bool,
        timeout: Duration,
    ) -> Result<Vec<SocketAck>, EmitError> {
        validate_channel(channel).map_err(|e| EmitError::InvalidChannel(e.message().to_owned()))?;
        let mut answers = self.membership_local(targets, except, channel, join);
        if let Some(remote) = self.remote() {
            if join && !answers.is_empty() {
                remote.followed().await;
            }
            let others = remote
                .membership(self.namespace(), targets, except, channel, join, timeout)
                .await;
            answers.extend(others.unwrap_or_default());
        }
        Ok(answers)
    }
}
