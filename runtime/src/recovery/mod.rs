//! Recovery of missed events: what a namespace keeps, and how a reconnecting client asks for it.
//!
//! With recovery on, every event emitted to a user, a channel or a client key is recorded in
//! that recipient's *stream* under a [`Position`] from one clock per namespace, and sent with
//! its position as an extra, last argument. A client that reconnects (to this node or any other)
//! sends back the last position it saw and its channels (`auth.recover`); it then receives what
//! its streams recorded after that position, in order and once, before any new event, and learns
//! whether that was everything (`/ops/connection-success` → `recovery`, a
//! [`RecoveryInfo`](crate::RecoveryInfo)).
//!
//! - `position`: positions; `cursor`: where one socket stands; `ring`: the in-memory history of embedded mode (cluster mode keeps
//!   it in Redis streams, behind the `Remote` port);
//! - this file: the settings ([`Recovery`]), a recorded event ([`Entry`]), what a reconnecting
//!   client missed ([`Missed`]) and its request ([`Request`]).

mod cursor;
mod position;
mod ring;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

pub(crate) use cursor::{Cursor, to_send};
pub(crate) use position::Position;
pub(crate) use ring::Ring;

use crate::protocol::{Target, validate_channel};

/// How long a namespace keeps events for reconnecting clients by default: two minutes.
pub const DEFAULT_RECOVERY_WINDOW: Duration = Duration::from_secs(120);
/// How many events each stream keeps at most by default.
pub const DEFAULT_RECOVERY_MAX_LEN: usize = 4096;

/// Recovery settings of a namespace: how long events are kept for reconnecting clients (the
/// window) and how many each stream keeps at most (the bound). A client that comes back later
/// than the window, or after its stream dropped events past the bound, is told it did not
/// recover (and gets nothing replayed from that stream), so the app can refetch.
///
/// ```
/// use std::time::Duration;
/// use tether::Recovery;
///
/// let recovery = Recovery::new().window(Duration::from_secs(30)).max_len(500);
/// assert_eq!(recovery.window_duration(), Duration::from_secs(30));
/// assert_eq!(Recovery::default().max_len_value(), tether::DEFAULT_RECOVERY_MAX_LEN);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    window: Duration,
    max_len: usize,
}

impl Default for Recovery {
    fn default() -> Self {
        Self::new()
    }
}

impl Recovery {
    /// The defaults: [`DEFAULT_RECOVERY_WINDOW`], [`DEFAULT_RECOVERY_MAX_LEN`].
    pub const fn new() -> Self {
        Self {
            window: DEFAULT_RECOVERY_WINDOW,
            max_len: DEFAULT_RECOVERY_MAX_LEN,
        }
    }

    /// How long events are kept (at least one second).
    #[must_use]
    pub const fn window(mut self, window: Duration) -> Self {
        self.window = if window.as_secs() == 0 {
            Duration::from_secs(1)
        } else {
            window
        };
        self
    }

    /// How many events one stream keeps at most (at least one).
    #[must_use]
    pub const fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = if max_len == 0 { 1 } else { max_len };
        self
    }

    /// The window.
    pub const fn window_duration(&self) -> Duration {
        self.window
    }

    /// The bound per stream.
    pub const fn max_len_value(&self) -> usize {
        self.max_len
    }

    /// The window in milliseconds.
    pub(crate) fn window_ms(&self) -> u64 {
        u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX)
    }
}

/// One recorded event: what it was, who it was for, and where it sits.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) pos: Position,
    pub(crate) event: String,
    pub(crate) data: Box<RawValue>,
    pub(crate) targets: Vec<Target>,
    pub(crate) except: Vec<Target>,
}

impl Entry {
    /// An event recorded at `pos`, for `targets` minus `except`.
    pub(crate) fn new(
        pos: Position,
        event: &str,
        data: &RawValue,
        targets: &[Target],
        except: &[Target],
    ) -> Self {
        Self {
            pos,
            event: event.to_owned(),
            data: data.to_owned(),
            targets: targets.to_vec(),
            except: except.to_vec(),
        }
    }

    /// The streams the event is recorded in: its targets that are one recipient (a broadcast to
    /// everyone has no stream).
    pub(crate) fn streams(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter().filter(|t| **t != Target::All)
    }
}

/// What a reconnecting client missed, read from its streams.
#[derive(Debug, Default)]
pub(crate) struct Missed {
    /// The events after the client's position, in order, each once.
    pub(crate) entries: Vec<Arc<Entry>>,
    /// The streams that could not be read completely: events past the bound were dropped, or
    /// the history was lost (a restart). Nothing of a trimmed stream is replayed.
    pub(crate) lost: Vec<Target>,
    /// The client came back after the window: nothing is replayed.
    pub(crate) expired: bool,
    /// The history does not reach back to the client's position (it was lost, e.g. by a
    /// restart): what it holds is replayed, and every stream is listed in `lost`.
    pub(crate) reset: bool,
    /// The history's latest position when it was read: the socket is live from there.
    pub(crate) head: Position,
}

/// What a reconnecting client asks for (`auth.recover`): the events of its streams after
/// `offset` (`None`: the client sent something that is not a position, e.g. a stray last
/// argument it took for one; it is told `invalid_offset` rather than locked out), and the
/// channels it was in (each once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) offset: Option<Position>,
    pub(crate) channels: Vec<String>,
}

/// The most channels a recover request may list (a socket's channel cap applies after).
pub(crate) const MAX_RECOVER_CHANNELS: usize = 1024;

/// The `recover` object of a handshake's auth payload.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    offset: String,
    #[serde(default)]
    channels: Vec<String>,
}

/// How a request can be wrong (the handshake is refused with `invalid_recover`).
pub(crate) type BadRequest = String;

/// Reads `auth.recover`; `Ok(None)` when absent or `null`.
pub(crate) fn request(auth: &Value) -> Result<Option<Request>, BadRequest> {
    let Some(raw) = auth.get("recover").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let raw: RawRequest = serde_json::from_value(raw.clone()).map_err(|e| {
        format!("`recover` must be {{\"offset\": \"<ms>-<seq>\", \"channels\": [..]}}: {e}")
    })?;
    let offset = raw.offset.parse().ok();
    let mut channels = Vec::with_capacity(raw.channels.len().min(MAX_RECOVER_CHANNELS));
    for channel in raw.channels {
        validate_channel(&channel).map_err(|e| format!("`recover.channels`: {}", e.message()))?;
        if !channels.contains(&channel) {
            channels.push(channel);
        }
        if channels.len() > MAX_RECOVER_CHANNELS {
            return Err(format!(
                "`recover.channels` lists more than {MAX_RECOVER_CHANNELS} channels"
            ));
        }
    }
    Ok(Some(Request { offset, channels }))
}

/// A stream's name as [`RecoveryInfo::lost`](crate::RecoveryInfo::lost) lists it.
pub(crate) fn stream_name(target: &Target) -> String {
    match target {
        Target::User(u) => format!("user:{u}"),
        Target::Channel(c) => format!("channel:{c}"),
        Target::Client(k) => format!("client:{k}"),
        Target::All => "all".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Position, Recovery, request};

    #[test]
    fn a_recover_request_is_read_or_refused_with_the_reason() {
        assert_eq!(request(&json!({"token": "t"})).unwrap(), None);
        assert_eq!(request(&json!({"recover": null})).unwrap(), None);
        let req = request(&json!({"recover": {"offset": "5-1", "channels": ["a"]}}))
            .unwrap()
            .unwrap();
        assert_eq!(req.offset, Some(Position { ms: 5, seq: 1 }));
        assert_eq!(req.channels, vec!["a".to_owned()]);
        let odd = request(&json!({"recover": {"offset": "x", "channels": ["b", "b"]}})).unwrap();
        let odd = odd.unwrap();
        assert_eq!(odd.offset, None, "told invalid_offset, not refused");
        assert_eq!(odd.channels, vec!["b".to_owned()], "each once");
        let err = request(&json!({"recover": {"offset": "1-0", "channels": ["a b"]}})).unwrap_err();
        assert!(err.contains("recover.channels"), "{err}");
        assert!(request(&json!({"recover": "1-0"})).is_err());
    }

    #[test]
    fn settings_have_floors() {
        let r = Recovery::new().window(std::time::Duration::ZERO).max_len(0);
        assert_eq!(r.window_ms(), 1000);
        assert_eq!(r.max_len_value(), 1);
    }
}
