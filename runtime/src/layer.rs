//! The tower layer a router mounts ([`TetherLayer`]): socketioxide's, holding the [`Tether`] it
//! serves, so that a running server keeps its tether alive and dropping both stops it.

use std::fmt;
use std::task::{Context, Poll};

use http::Request;
use socketioxide::layer::SocketIoLayer;
use socketioxide::service::SocketIoService;
use tower::{Layer, Service};

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
            _tether: self.tether.clone(),
        }
    }
}

/// The service of a [`TetherLayer`]: socketioxide's, holding the tether it serves.
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
    _tether: Tether,
}

impl<S: Clone> fmt::Debug for TetherService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TetherService").finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for TetherService<S>
where
    S: Clone,
    SocketIoService<S>: Service<Request<B>>,
{
    type Response = <SocketIoService<S> as Service<Request<B>>>::Response;
    type Error = <SocketIoService<S> as Service<Request<B>>>::Error;
    type Future = <SocketIoService<S> as Service<Request<B>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.service.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.service.call(req)
    }
}
