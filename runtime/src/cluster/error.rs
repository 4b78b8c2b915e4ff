//! Why the cluster could not be joined, or a cluster setting was refused ([`ClusterError`]).

use std::fmt;

/// Why the cluster could not be joined, or a cluster setting (such as a
/// [`ClusterKey`](super::ClusterKey)) was refused.
#[derive(Debug)]
pub struct ClusterError(pub(crate) String);

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClusterError {}
