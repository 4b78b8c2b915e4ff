//! What the JWE tests (`auth.rs`, `auth_hostile.rs`) share: the claims their tokens carry, the
//! metadata their namespaces keep, and the middleware that turns one into the other.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tether::auth::{Claims, JweVerifier, Verified};
use tether::{Handshake, SocketNok, SocketOk};

/// The app's own claim, beside the registered ones.
#[derive(Debug, Serialize, Deserialize)]
pub struct Profile {
    /// A display name.
    pub name: String,
}

/// What a namespace keeps of a verified token.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    /// The token's `sub`.
    pub user_id: String,
    /// The token's `name`.
    pub name: String,
}

/// A namespace's middleware, built on the ready-made JWE one: `verifier` checks the token, then
/// the app refuses the user `banned` with the code `banned`.
pub async fn authenticate(
    verifier: &JweVerifier,
    hs: &Handshake,
) -> Result<SocketOk<Member>, SocketNok> {
    verifier
        .accept(hs, |token: Verified<Claims<Profile>>| async move {
            let claims = token.into_claims();
            // Where an app would look the user up.
            if claims.sub == "banned" {
                return Err(SocketNok::with_code("banned", "this account is banned"));
            }
            Ok(Member {
                user_id: claims.sub,
                name: claims.extra.name,
            })
        })
        .await
}

/// Now, in whole seconds since the Unix epoch (a token's `exp`).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}
