//! Binding the TCP listener a socket.io server accepts on.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// How many connections may wait for `accept` (the kernel caps it at `net.core.somaxconn`,
/// 4096 by default since Linux 5.4). A reconnect storm of 10,000 sockets overflowed 1024 on a
/// 2-core VM: part of its clients waited for TCP's retries (p95 2.2–3.1 s in 4 of 7 runs,
/// against 1.3–1.4 s with 4096 in 4 of 4).
pub const LISTEN_BACKLOG: u32 = 4096;

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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use tokio::net::TcpStream;

    /// A number from a `/proc` file: its first field that parses after `label` (the whole file
    /// when `label` is empty).
    fn proc_number(path: &str, label: &str) -> Option<usize> {
        let text = std::fs::read_to_string(path).ok()?;
        let line = text.lines().find(|l| l.starts_with(label))?;
        line[label.len()..]
            .split_whitespace()
            .find_map(|field| field.parse().ok())
    }

    /// More connections than the old backlog (1024) that arrive before the server accepts any
    /// all finish their TCP handshake at once: none waits for TCP's retry a second later.
    /// (Bounded by what the kernel and the open-files limit allow here.)
    #[tokio::test]
    async fn connections_beyond_a_thousand_wait_for_accept_without_a_retry() {
        let somaxconn = proc_number("/proc/sys/net/core/somaxconn", "").unwrap_or(128);
        let files = proc_number("/proc/self/limits", "Max open files").unwrap_or(1024);
        let n = 1500.min(somaxconn.saturating_sub(16)).min(files / 2);
        let listener = super::bind(([127, 0, 0, 1], 0).into()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let started = Instant::now();
        let connects = (0..n)
            .map(|_| tokio::time::timeout(Duration::from_millis(900), TcpStream::connect(addr)));
        let streams = futures_util::future::join_all(connects).await;
        let waited = streams.iter().filter(|s| !matches!(s, Ok(Ok(_)))).count();
        assert_eq!(
            waited,
            0,
            "{waited} of {n} connections did not finish their handshake within 900 ms \
             (somaxconn {somaxconn}); took {:?}",
            started.elapsed()
        );
        drop(listener);
    }
}
