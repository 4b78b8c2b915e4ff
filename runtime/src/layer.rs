//! The tower layer a router mounts ([`TetherLayer`]): socketioxide's, holding the [`Tether`] it
//! serves, so that a running server keeps its tether alive and dropping both stops it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::Either;

use http::header::{HeaderMap, HeaderValue};
use http::{Request, Uri};
use socketioxide::layer::SocketIoLayer;
use socketioxide::service::SocketIoService;
use tower::{Layer, Service};

use crate::connection::{Admission, opens_session};
use crate::tether::Tether;

/// The tower layer that serves socket.io for a [`Tether`]
/// ([`Tether::layer`](crate::Tether::layer)). It holds the tether: as long as a router (or one
/// of its connections) holds the layer, the tether runs, even when the app kept no `Tether`
/// handle; once neither is left, the tether stops (see [`Tether`]).
///
/// ```
/// # use tether::{Tether, socket_namespace};
/// # struct Chat;
/// # #[socket_namespace(path = "/chat")]
/// # impl Chat {}
/// use axum::routing::get;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tether::BuildError> {
/// let layer = Tether::builder().namespace(Chat).build().await?.layer();
/// // No `Tether` kept: the router's layer keeps it running.
/// let app: axum::Router = axum::Router::new()
///     .route("/healthz", get(|| async { "ok" }))
///     .layer(layer);
/// // axum::serve(listener, app).await?;
/// # let _ = app;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TetherLayer {
    layer: SocketIoLayer,
    tether: Tether,
}

impl fmt::Debug for TetherLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TetherLayer").finish_non_exhaustive()
    }
}

impl TetherLayer {
    pub(crate) fn new(layer: SocketIoLayer, tether: Tether) -> Self {
        Self { layer, tether }
    }
}

impl<S: Clone> Layer<S> for TetherLayer {
    type Service = TetherService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TetherService {
            service: self.layer.layer(inner),
            admission: self.tether.admission(),
            _tether: self.tether.clone(),
        }
    }
}

/// The service of a [`TetherLayer`]: socketioxide's, holding the tether it serves. A request
/// that opens a new engine.io session first waits for a handshake slot (see
/// [`TetherBuilder::max_concurrent_handshakes`](crate::TetherBuilder::max_concurrent_handshakes)).
///
/// ```
/// # use tether::{Tether, socket_namespace};
/// # struct Chat;
/// # #[socket_namespace(path = "/chat")]
/// # impl Chat {}
/// use axum::body::Body;
/// use axum::http::{Request, StatusCode};
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let tether = Tether::builder().namespace(Chat).build().await.unwrap();
/// let app = axum::Router::new().route("/", axum::routing::get(|| async { "home" }));
/// // What `Router::layer` does: socket.io's path is served, other requests go to the app.
/// let service = tether.layer().layer(app);
///
/// let open = Request::get("/socket.io/?EIO=4&transport=polling").body(Body::empty()).unwrap();
/// let res = service.clone().oneshot(open).await.unwrap();
/// let body = axum::body::to_bytes(Body::new(res.into_body()), 1024).await.unwrap();
/// assert!(body.starts_with(b"0{\"sid\""), "engine.io's open packet");
/// let home = service.oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
/// assert_eq!(home.status(), StatusCode::OK);
/// # }
/// ```
#[derive(Clone)]
pub struct TetherService<S: Clone> {
    service: SocketIoService<S>,
    admission: Option<Arc<Admission>>,
    _tether: Tether,
}

impl<S: Clone> fmt::Debug for TetherService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TetherService").finish_non_exhaustive()
    }
}

/// The future of a request that waits for a handshake slot first.
type Admitted<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, B> Service<Request<B>> for TetherService<S>
where
    S: Clone + Send + 'static,
    B: Send + 'static,
    SocketIoService<S>: Service<Request<B>> + Send + 'static,
    <SocketIoService<S> as Service<Request<B>>>::Future: Send + 'static,
{
    type Response = <SocketIoService<S> as Service<Request<B>>>::Response;
    type Error = <SocketIoService<S> as Service<Request<B>>>::Error;
    type Future = Either<
        <SocketIoService<S> as Service<Request<B>>>::Future,
        Admitted<Self::Response, Self::Error>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.service.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let mut req = detach_head(req);
        let admission = match &self.admission {
            Some(admission) if opens_session(req.uri().query()) => admission.clone(),
            _ => return Either::Left(self.service.call(req)),
        };
        // The service that was polled ready serves the request; this one keeps a fresh clone.
        let clone = self.service.clone();
        let mut service = std::mem::replace(&mut self.service, clone);
        Either::Right(Box::pin(async move {
            req.extensions_mut().insert(admission.enter().await);
            service.call(req).await
        }))
    }
}

/// Gives an engine.io request a head of its own. hyper parses a request's URI and header values
/// as slices of its connection's read buffer (8–16 KiB), and engineioxide keeps the head of a
/// socket's first request for the socket's life (`req_parts`; tether reads it again on
/// `/ops/login`), so every open socket kept its connection's whole read buffer alive. A copy
/// takes the head's own size, a few hundred bytes: measured 33.6 → 26.2 KiB of RSS per idle
/// socket (BENCHMARKS.md). Other requests pass untouched.
fn detach_head<B>(req: Request<B>) -> Request<B> {
    if !req.uri().query().is_some_and(|q| q.contains("EIO=")) {
        return req;
    }
    let (mut parts, body) = req.into_parts();
    if let Ok(uri) = Uri::try_from(parts.uri.to_string()) {
        parts.uri = uri;
    }
    // axum's router keeps the URI it was given in the extensions as well.
    if let Some(original) = parts.extensions.get_mut::<axum::extract::OriginalUri>()
        && let Ok(uri) = Uri::try_from(original.0.to_string())
    {
        original.0 = uri;
    }
    parts.headers = owned_headers(&parts.headers);
    Request::from_parts(parts, body)
}

/// A copy of `headers` whose values own their bytes (names are already owned, or static).
fn owned_headers(headers: &HeaderMap) -> HeaderMap {
    let mut owned = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let mut copy = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        copy.set_sensitive(value.is_sensitive());
        owned.append(name.clone(), copy);
    }
    owned
}

#[cfg(test)]
mod tests {
    use axum::body::Bytes;
    use axum::extract::OriginalUri;
    use http::header::{AUTHORIZATION, HeaderValue};
    use http::{Request, Uri};

    use super::detach_head;

    /// A request whose URI and header value are slices of one buffer, as hyper parses them.
    fn parsed(path: &str) -> (Bytes, Request<()>) {
        let raw = Bytes::from(format!("{path} Bearer abc"));
        let uri = Uri::from_maybe_shared(raw.slice(..path.len())).unwrap();
        let token = HeaderValue::from_maybe_shared(raw.slice(path.len() + 1..)).unwrap();
        let mut req = Request::builder().uri(uri.clone()).body(()).unwrap();
        req.headers_mut().insert(AUTHORIZATION, token);
        req.extensions_mut().insert(OriginalUri(uri));
        (raw, req)
    }

    fn within(raw: &Bytes, text: &[u8]) -> bool {
        raw.as_ptr_range().contains(&text.as_ptr())
    }

    #[test]
    fn an_engine_io_request_keeps_nothing_of_the_connection_buffer() {
        let (raw, req) = parsed("/socket.io/?EIO=4&transport=websocket");
        let req = detach_head(req);
        let token = req.headers().get(AUTHORIZATION).unwrap();
        assert_eq!(token, "Bearer abc");
        assert!(!within(&raw, token.as_bytes()));
        assert_eq!(req.uri(), "/socket.io/?EIO=4&transport=websocket");
        assert!(!within(&raw, req.uri().path().as_bytes()));
        let original = &req.extensions().get::<OriginalUri>().unwrap().0;
        assert_eq!(original, req.uri());
        assert!(!within(&raw, original.path().as_bytes()));
    }

    #[test]
    fn other_requests_pass_untouched() {
        let (raw, req) = parsed("/api/notify");
        let req = detach_head(req);
        assert!(within(&raw, req.uri().path().as_bytes()));
        let token = req.headers().get(AUTHORIZATION).unwrap();
        assert!(within(&raw, token.as_bytes()));
    }
}
