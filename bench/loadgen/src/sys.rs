//! What the load generator reads from the system: a process's resident memory and CPU time
//! (from `/proc`), and the JWE tokens it connects with.
//!
//! Two fields of two `/proc` files are read by hand rather than through the `procfs` crate: it
//! would parse every field of both (and pull in its own dependencies) for `VmRSS` and
//! `utime + stime`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwe::{Dir, JweHeader};

/// Kernel clock ticks per second for `/proc/<pid>/stat` times (`USER_HZ`, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// Resident memory of a process in KiB (`VmRSS` of `/proc/<pid>/status`); `None` when the
/// process is gone.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time (user + system, all threads) a process has used so far, in seconds.
pub(crate) fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may contain spaces) start at field 3 (`state`);
    // utime and stime are fields 14 and 15.
    let after = &stat[stat.rfind(')')? + 2..];
    let mut fields = after.split(' ').skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// The summed RSS of several processes, in KiB (0 when none is given).
pub(crate) fn total_rss_kib(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|p| rss_kib(*p)).sum()
}

/// The summed CPU seconds of several processes.
pub(crate) fn total_cpu(pids: &[u32]) -> f64 {
    pids.iter().filter_map(|p| cpu_seconds(Some(*p))).sum()
}

/// CPU seconds used over a phase by the servers, the cluster's bystander nodes and Redis.
pub(crate) struct PhaseCpu<'a> {
    /// Servers, bystanders, Redis.
    pids: [&'a [u32]; 3],
    start: [f64; 3],
}

/// What a [`PhaseCpu`] measured, in seconds.
pub(crate) struct Used {
    pub(crate) servers: f64,
    bystanders: f64,
    redis: f64,
}

impl<'a> PhaseCpu<'a> {
    /// Starts measuring.
    pub(crate) fn start(servers: &'a [u32], bystanders: &'a [u32], redis: &'a [u32]) -> Self {
        let pids = [servers, bystanders, redis];
        Self {
            pids,
            start: pids.map(total_cpu),
        }
    }

    /// What was used since the start.
    pub(crate) fn used(&self) -> Used {
        let [servers, bystanders, redis] =
            [0, 1, 2].map(|i| total_cpu(self.pids[i]) - self.start[i]);
        Used {
            servers,
            bystanders,
            redis,
        }
    }

    /// Adds the bystanders' and Redis's CPU to a phase's results, when they were measured.
    pub(crate) fn report(&self, used: &Used, out: &mut serde_json::Value, deliveries: u64) {
        if !self.pids[1].is_empty() {
            out["bystander_cpu_ms"] = serde_json::json!(used.bystanders * 1e3);
            // What the whole cluster spent per delivery: grows with the nodes when every node
            // does work for every message (a broadcast adapter), stays flat when only the nodes
            // holding a recipient do.
            out["cluster_cpu_us_per_delivery"] = serde_json::json!(
                (used.servers + used.bystanders) * 1e6 / deliveries.max(1) as f64
            );
        }
        if !self.pids[2].is_empty() {
            out["redis_cpu_s"] = serde_json::json!(used.redis);
            out["redis_cpu_us_per_delivery"] =
                serde_json::json!(used.redis * 1e6 / deliveries.max(1) as f64);
        }
    }
}

/// Decodes a base64url (padded or not) 32-byte key.
pub(crate) fn decode_key(text: &str) -> Result<Vec<u8>, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .map_err(|e| format!("BENCH_KEY is not base64url: {e}"))?;
    if bytes.len() != 32 {
        return Err(format!("BENCH_KEY must be 32 bytes, got {}", bytes.len()));
    }
    Ok(bytes)
}

/// Issues tokens (`alg: dir`, `enc: A256GCM`, `{"sub", "exp"}`) with josekit directly, so the
/// servers' verification is checked against an independent issuer.
pub(crate) struct Issuer {
    encrypter: josekit::jwe::alg::direct::DirectJweEncrypter,
    header: JweHeader,
    exp: u64,
}

impl Issuer {
    /// An issuer for a 32-byte key; tokens expire in a day.
    pub(crate) fn new(key: &[u8]) -> Result<Self, String> {
        let encrypter = Dir
            .encrypter_from_bytes(key)
            .map_err(|e| format!("bad key: {e}"))?;
        let mut header = JweHeader::new();
        header.set_content_encryption("A256GCM");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Ok(Self {
            encrypter,
            header,
            exp: now.as_secs() + 24 * 3600,
        })
    }

    /// A token for user `sub`.
    pub(crate) fn issue(&self, sub: &str) -> Result<String, String> {
        let claims = serde_json::json!({ "sub": sub, "exp": self.exp });
        let payload = serde_json::to_vec(&claims).map_err(|e| e.to_string())?;
        josekit::jwe::serialize_compact(&payload, &self.header, &self.encrypter)
            .map_err(|e| format!("could not encrypt a token: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let pid = std::process::id();
        assert!(rss_kib(pid).unwrap() > 0);
        assert!(cpu_seconds(Some(pid)).is_some());
        assert!(cpu_seconds(None).is_some());
        assert_eq!(total_rss_kib(&[]), 0);
    }

    #[test]
    fn issues_compact_jwe() {
        let key = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let issuer = Issuer::new(&decode_key(&key).unwrap()).unwrap();
        let token = issuer.issue("u1").unwrap();
        assert_eq!(token.split('.').count(), 5);
        assert!(decode_key("AAAA").is_err());
    }
}
