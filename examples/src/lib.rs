//! Code of the examples that tests reuse: the chat demo's server ([`chat`]), served by the
//! `chat` example and built in-process by the integration tests.

#[path = "../chat/server.rs"]
pub mod chat;
