//! Binding the TCP listener a socket.io server accepts on.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// How many connections may wait for `accept` (the kernel caps it at `net.core.somaxconn`).
pub const LISTEN_BACKLOG: u32 = 1024;

/// Binds a TCP listener with a backlog of [`LISTEN_BACKLOG`] connections, for
/// `axum::serve`. `tokio::net::TcpListener::bind` asks for 128, as the standard library does:
/// when a node restarts and its clients all reconnect to the others, the connections beyond
/// 128 that arrive before the server accepts them are dropped by the kernel and retried by the
/// client a second later (TCP's first retransmission), so a reconnect storm takes a second
/// longer for part of the clients. Node's `http.Server` asks for 511.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let listener = tether::bind(([127, 0, 0, 1], 0).into()).await?;
/// assert!(listener.local_addr()?.port() > 0);
/// // axum::serve(listener, app).await?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// When the address cannot be bound (in use, not local, no permission).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restarted server binds while old connections linger.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}
