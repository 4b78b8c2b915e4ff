//! tether's quick start: sockets that belong to users, and an HTTP endpoint that pushes an event
//! to every socket of a user. Run it with `cargo run --example quickstart`, then:
//!
//! ```sh
//! curl -X POST localhost:3000/notify/alice -H 'content-type: application/json' -d '{"text":"hi"}'
//! ```

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tether::{
    BuildError, Client, Emitter, Events, Handshake, SocketError, SocketNok, SocketOk, Tether,
    socket_namespace,
};

/// Who a socket belongs to, as the middleware decided.
#[derive(Clone)]
struct Member {
    user_id: String,
}

/// A short text, from a client or to one.
#[derive(Clone, Serialize, Deserialize)]
struct Note {
    text: String,
}

/// What the server sends to clients (a wrong event name does not compile).
#[derive(Events)]
enum Notice {
    #[event("notice")]
    Notice(Note),
}

/// The `/notices` namespace: every socket belongs to a user (`user_key`).
struct Notices;

#[socket_namespace(path = "/notices", user_key = "user_id", events = Notice)]
impl Notices {
    /// Runs before the client is connected; a refusal reaches its `connect_error`.
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
        // A real app verifies a token here: see `tether::auth::JweVerifier`.
        match hs.auth_str("user") {
            Some(user) if !user.is_empty() => Ok(SocketOk::new(Member {
                user_id: user.to_owned(),
            })),
            _ => Err(SocketNok::with_code("missing_user", "send `auth.user`")),
        }
    }

    /// A client event with a typed payload; the return value is the ack.
    #[on("echo")]
    async fn echo(&self, client: &Client<Member>, note: Note) -> Result<Note, SocketError> {
        if note.text.is_empty() {
            return Err(SocketError::new("empty", "say something"));
        }
        let user = client.user_id().unwrap_or_default();
        Ok(Note {
            text: format!("{user} said {}", note.text),
        })
    }
}

/// How many sockets an HTTP push reached.
#[derive(Serialize)]
struct Pushed {
    delivered: bool,
    sockets: usize,
}

/// `POST /notify/{user}` with `{"text": "…"}`: to every socket of the user (every tab, and in
/// cluster mode every node).
async fn notify(
    State(emitter): State<Emitter<Notices>>,
    Path(user): Path<String>,
    Json(note): Json<Note>,
) -> Result<Json<Pushed>, String> {
    let delivery = emitter
        .to_user(user)
        .emit(Notice::Notice(note))
        .await
        .map_err(|e| e.to_string())?;
    Ok(Json(Pushed {
        delivered: delivery.delivered(),
        sockets: delivery.sockets,
    }))
}

/// The whole app: the HTTP route and socket.io, on one router (`pub(crate)`: the repository's
/// test of this quick start serves it).
pub(crate) async fn app() -> Result<Router, BuildError> {
    let tether = Tether::builder().namespace(Notices).build().await?;
    Ok(Router::new()
        .route("/notify/{user}", post(notify))
        .with_state(tether.emitter::<Notices>())
        .layer(tether.layer()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // tether logs through `tracing`: connections, logins, refusals, cluster events.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    // A backlog fit for reconnect storms (see `tether::bind`).
    let listener = tether::bind(([127, 0, 0, 1], 3000).into()).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app().await?).await?;
    Ok(())
}
