//! The chat demo's HTTP API: `POST /api/login` (a token for any name: a demo without passwords)
//! and `POST /api/notify/{user}` (a push to every socket of a user, for back-end services that
//! hold the notify secret).
//!
//! Every error is `{"error": {"code", "message"}}`, the shape of the socket acks.
//!
//! `GET /healthz` is for load balancers and orchestrators: `200 {"status": "ok" | "degraded",
//! "cluster": ..}`, or `503 {"status": "draining", ..}` once the node is shutting down.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tether::auth::{Claims, JweVerifier, Key};
use tether::cluster::ClusterState;
use tether::{Emitter, SocketError, Tether};

use super::{Chat, ChatEvent, check_user};

/// What the HTTP handlers share.
#[derive(Clone)]
pub(super) struct AppState {
    pub(super) tether: Tether,
    pub(super) verifier: Arc<JweVerifier>,
    pub(super) emitter: Emitter<Chat>,
    pub(super) notify_secret: NotifySecret,
    pub(super) token_ttl: Duration,
}

/// The credential of `POST /api/notify/{user}`: callers send `Authorization: Bearer <secret>`.
///
/// Its `Debug` output hides the secret, so it cannot reach a log by accident.
///
/// ```
/// use tether_examples::chat::NotifySecret;
/// let secret = NotifySecret::new("s3cret-for-tests").unwrap();
/// assert_eq!(format!("{secret:?}"), "NotifySecret(..)");
/// assert!(NotifySecret::new("").is_err());
/// assert!(NotifySecret::new("has space").is_err());
/// assert_eq!(NotifySecret::generate().expose().len(), 43);
/// ```
#[derive(Clone)]
pub struct NotifySecret(Arc<str>);

impl NotifySecret {
    /// A secret of your choosing: one or more visible ASCII characters (what an HTTP header
    /// carries unchanged; no spaces).
    ///
    /// # Errors
    /// When `secret` is empty or has other characters.
    pub fn new(secret: impl Into<String>) -> Result<Self, String> {
        let secret = secret.into();
        if secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "the notify secret must be one or more visible ASCII characters (no spaces)"
                    .to_owned(),
            );
        }
        Ok(Self(secret.into()))
    }

    /// A random secret: 32 bytes from a CSPRNG, as 43 base64url characters.
    pub fn generate() -> Self {
        Self(Key::generate().to_base64url().into())
    }

    /// The secret itself, e.g. to print a [generated](Self::generate) one once at start-up.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `given` is the secret, in time that depends on the lengths only (not on where
    /// the first wrong byte is).
    fn matches(&self, given: &[u8]) -> bool {
        let secret = self.0.as_bytes();
        let mut diff = u8::from(given.len() != secret.len());
        for (i, s) in secret.iter().enumerate() {
            diff |= s ^ given.get(i).copied().unwrap_or(0);
        }
        std::hint::black_box(diff) == 0
    }
}

impl fmt::Debug for NotifySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NotifySecret(..)")
    }
}

/// An HTTP error with the same `{"error": {code, message}}` shape as the socket acks.
pub(super) struct ApiError(StatusCode, SocketError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.0, Json(self.1)).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="notify""#),
            );
        }
        response
    }
}

#[derive(Deserialize)]
pub(super) struct LoginRequest {
    user: String,
}

/// `POST /api/login {"user": "alice"}` → `{"token": ".."}`. A demo: no passwords.
pub(super) async fn login(
    State(app): State<AppState>,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = body.map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            SocketError::invalid_payload(format!("expected {{\"user\": \"name\"}}: {e}")),
        )
    })?;
    check_user(&req.user)
        .map_err(|m| ApiError(StatusCode::BAD_REQUEST, SocketError::invalid_payload(m)))?;
    let token = app
        .verifier
        .issue(&Claims::new(req.user).expires_in(app.token_ttl))
        .map_err(|e| {
            tracing::error!(error = %e, "token not issued");
            ApiError(StatusCode::INTERNAL_SERVER_ERROR, SocketError::internal())
        })?;
    Ok(Json(json!({ "token": token })))
}

/// Proof that a request carries the notify secret. As an extractor before the body, it refuses
/// a request before its body is read.
pub(super) struct NotifyCaller;

impl FromRequestParts<AppState> for NotifyCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let given = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| bearer(value.as_bytes()));
        let Some(given) = given else {
            tracing::debug!("notify refused: no `Authorization: Bearer` header");
            return Err(ApiError(
                StatusCode::UNAUTHORIZED,
                SocketError::new(
                    "unauthorized",
                    "`POST /api/notify/{user}` needs `Authorization: Bearer <NOTIFY_SECRET>`",
                ),
            ));
        };
        if !app.notify_secret.matches(given) {
            tracing::info!("notify refused: wrong notify secret");
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                SocketError::forbidden("the bearer token is not the notify secret"),
            ));
        }
        Ok(Self)
    }
}

/// The credentials of an `Authorization: Bearer <credentials>` header value.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let credentials = rest.trim_ascii();
    (!credentials.is_empty()).then_some(credentials)
}

/// `POST /api/notify/{user}` with `Authorization: Bearer <secret>` and any JSON body →
/// `notification` to every socket of the user.
pub(super) async fn notify(
    _caller: NotifyCaller,
    State(app): State<AppState>,
    Path(user): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            SocketError::invalid_payload(format!("the body must be JSON: {e}")),
        )
    })?;
    let delivery = app
        .emitter
        .to_user(&user)
        .emit(ChatEvent::Notification(body))
        .await
        .map_err(|e| {
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                SocketError::new("emit_failed", e.to_string()),
            )
        })?;
    // `nodes`: the nodes that hold a socket of the user (this one alone in embedded mode).
    // `stored`: recorded for recovery, so a page that blips (or comes back within the window)
    // still gets it; `delivered` alone only says it was handed to a connection.
    let mut answer = if delivery.delivered() {
        json!({ "delivered": true, "sockets": delivery.sockets, "nodes": delivery.nodes })
    } else if delivery.cluster_unavailable {
        json!({ "delivered": false, "reason": "cluster_unavailable", "nodes": 0 })
    } else {
        json!({ "delivered": false, "reason": "offline", "nodes": 0 })
    };
    answer["stored"] = json!(delivery.stored);
    if let Some(position) = delivery.position() {
        answer["position"] = json!(position);
    }
    Ok(Json(answer))
}

/// `GET /healthz`: `200` while the node serves (`"degraded"` while Redis is away: its own
/// sockets are served, other nodes' are not reached), `503` once it drains (SIGTERM), so that
/// a load balancer sends new clients elsewhere.
pub(super) async fn health(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    let (cluster, degraded) = match app.tether.cluster_state() {
        ClusterState::Embedded => ("embedded", false),
        ClusterState::Connected => ("connected", false),
        ClusterState::Reconnecting { .. } => ("reconnecting", true),
    };
    let (code, status) = if app.tether.is_closing() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else if degraded {
        (StatusCode::OK, "degraded")
    } else {
        (StatusCode::OK, "ok")
    };
    (code, Json(json!({ "status": status, "cluster": cluster })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_reads_the_credentials_of_the_bearer_scheme_only() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer   abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(b"Bearer"), None);
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearerabc"), None);
    }

    #[test]
    fn matches_the_whole_secret_only() {
        let secret = NotifySecret::new("correct-horse").expect("valid");
        assert!(secret.matches(b"correct-horse"));
        for wrong in [
            &b""[..],
            b"correct",
            b"correct-horse!",
            b"correct-horsf",
            b"Correct-horse",
        ] {
            assert!(!secret.matches(wrong), "{}", String::from_utf8_lossy(wrong));
        }
        // A wrong byte where `given` is zero-padded must not pass either.
        let secret = NotifySecret::new("ab").expect("valid");
        assert!(!secret.matches(b"ab\0"));
    }
}
