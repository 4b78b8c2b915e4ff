//! Why the cluster could not be joined, or a cluster setting was refused ([`ClusterError`]).

use std::fmt;

/// Why the cluster could not be joined, or a cluster setting (such as a
/// [`ClusterKey`](super::ClusterKey)) was refused.
///
/// ```
/// use tether::BuildError;
/// use tether::cluster::ClusterKey;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let err = ClusterKey::from_bytes(b"too short").unwrap_err();
/// assert!(err.to_string().starts_with("the cluster key is 9 bytes long"));
///
/// // A URL that is not Redis's fails `build()` before any connection; no password is shown.
/// let built = tether::Tether::builder().redis("http://:s3cret@redis.internal:6379").build().await;
/// let Err(BuildError::Cluster(err)) = built else { panic!("expected a cluster error") };
/// assert!(err.to_string().starts_with("invalid Redis URL `http://***@redis.internal:6379`"));
/// # }
/// ```
#[derive(Debug)]
pub struct ClusterError(pub(crate) String);

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClusterError {}
