//! Presence in cluster mode: each group's users (a channel's members, or the namespace's
//! signed-in users) in Redis, so that a user arrives once and departs once cluster-wide, after
//! the grace, however many sockets and nodes they have.
//!
//! Every change is one script, so two nodes never both announce the same change: the script
//! that takes a user's count from 0 to 1 announces the arrival (unless a departure was pending:
//! the user came back within the grace, nothing is announced); the one that takes it to 0 puts
//! the departure in `departing`, due after the grace, by Redis's clock. Every node takes the due
//! departures with [`settle`] (a pop: each is announced by exactly one node). A node that died
//! leaves its entries behind: every node checks the others' heartbeats every half beat and removes a
//! dead node's entries with [`reap`] (a pop again), which starts their departures, their grace
//! counted from the node's death rather than from the check (but a beat at least: see
//! [`Gone::Dead`]).

use std::sync::{LazyLock, PoisonError, Weak};
use std::time::Duration;

use redis::{AsyncCommands, Script};

use super::config::ClusterState;
use super::keys::roster_prefix;
use super::node::Cluster;
use super::presence::live_nodes;
use crate::presence::{Change, Group};

/// How often due departures are taken.
const TICK: Duration = Duration::from_millis(200);
/// Most departures taken, or dead entries removed, per script call.
const BATCH: usize = 500;

const NOW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
";

/// KEYS: socks, users, departing, the node's entries, the nodes. ARGV: `node|sid`, user,
/// departure member, node, node entry. Returns 1 for an arrival to announce.
static ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('SADD', KEYS[4], ARGV[5])
redis.call('SADD', KEYS[5], ARGV[4])
if redis.call('HINCRBY', KEYS[2], ARGV[2], 1) ~= 1 then return 0 end
if redis.call('ZREM', KEYS[3], ARGV[3]) == 1 then return 0 end
return 1",
    )
});

/// KEYS: socks, users, departing, the node's entries. ARGV: `node|sid`, departure member
/// prefix (`{len}:{group}`), node entry, grace (ms). Returns 1 when a departure starts.
static REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"
local user = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[3])
if not user then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HINCRBY', KEYS[2], user, -1) > 0 then return 0 end
redis.call('HDEL', KEYS[2], user)
{NOW}
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[2] .. user)
return 1"
    ))
});

/// KEYS: departing. ARGV: most to take. Returns the departures due, taken.
static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"
{NOW}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due"
    ))
});

/// KEYS: the dead node's entries, the nodes, departing. ARGV: node, roster prefix, the grace
/// left (ms), most to take. Removes a batch of the node's entries (starting the departures they end);
/// returns how many entries remain.
static REAP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"
{NOW}
local entries = redis.call('SPOP', KEYS[1], tonumber(ARGV[4]))
for _, entry in ipairs(entries) do
  local colon = string.find(entry, ':', 1, true)
  local len = tonumber(string.sub(entry, 1, colon - 1))
  local group = string.sub(entry, colon + 1, colon + len)
  local sid = string.sub(entry, colon + len + 1)
  local socks = ARGV[2] .. 'socks:' .. group
  local field = ARGV[1] .. '|' .. sid
  local user = redis.call('HGET', socks, field)
  if user then
    redis.call('HDEL', socks, field)
    local users = ARGV[2] .. 'users:' .. group
    if redis.call('HINCRBY', users, user, -1) <= 0 then
      redis.call('HDEL', users, user)
      redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), len .. ':' .. group .. user)
    end
  end
end
local left = redis.call('SCARD', KEYS[1])
if left == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return left"
    ))
});

/// `{len}:{group}`: what a group's departure members and node entries start with.
fn tagged(group: &Group) -> String {
    let name = group.encode();
    format!("{}:{name}", name.len())
}

/// The group and the rest (a user or a socket id) of a tagged member.
fn untag(member: &str) -> Option<(Group, &str)> {
    let (len, rest) = member.split_once(':')?;
    let len: usize = len.parse().ok()?;
    let group = rest.get(..len)?;
    Some((Group::decode(group)?, rest.get(len..)?))
}

/// Writes that socket `sid` of `user` entered (`present`) or left `group`; answers an arrival to
/// announce.
pub(super) async fn write(
    cluster: &Cluster,
    node: &str,
    ns: &str,
    group: &Group,
    user: &str,
    sid: &str,
    present: bool,
) -> redis::RedisResult<Option<Change>> {
    let keys = roster_prefix(&cluster.prefix, ns);
    let name = group.encode();
    let field = format!("{node}|{sid}");
    let tag = tagged(group);
    let entry = format!("{tag}{sid}");
    let mut conn = cluster.background();
    if present {
        let arrived: i64 = ADD
            .key(format!("{keys}socks:{name}"))
            .key(format!("{keys}users:{name}"))
            .key(format!("{keys}departing"))
            .key(format!("{keys}node:{node}"))
            .key(format!("{keys}nodes"))
            .arg(field)
            .arg(user)
            .arg(format!("{tag}{user}"))
            .arg(node)
            .arg(entry)
            .invoke_async(&mut conn)
            .await?;
        return Ok((arrived == 1).then(|| Change {
            group: group.clone(),
            user: user.to_owned(),
            joined: true,
        }));
    }
    let _: i64 = REMOVE
        .key(format!("{keys}socks:{name}"))
        .key(format!("{keys}users:{name}"))
        .key(format!("{keys}departing"))
        .key(format!("{keys}node:{node}"))
        .arg(field)
        .arg(tag)
        .arg(entry)
        .arg(grace_ms(cluster, ns))
        .invoke_async(&mut conn)
        .await?;
    Ok(None)
}

fn grace_ms(cluster: &Cluster, ns: &str) -> u64 {
    let grace = cluster
        .namespaces
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(ns)
        .and_then(|n| n.roster.as_ref().map(|r| r.grace))
        .unwrap_or_default();
    u64::try_from(grace.as_millis()).unwrap_or(u64::MAX)
}

/// Takes the departures of `ns` that are due; each is taken by one node only.
async fn settle(cluster: &Cluster, ns: &str) -> redis::RedisResult<Vec<Change>> {
    let keys = roster_prefix(&cluster.prefix, ns);
    let due: Vec<String> = SETTLE
        .key(format!("{keys}departing"))
        .arg(BATCH)
        .invoke_async(&mut cluster.publisher())
        .await?;
    Ok(due
        .iter()
        .filter_map(|member| untag(member))
        .map(|(group, user)| Change {
            group,
            user: user.to_owned(),
            joined: false,
        })
        .collect())
}

/// Why a node's entries are removed.
pub(super) enum Gone {
    /// It is leaving now: its users' grace starts now.
    Leaving,
    /// Its heartbeat expired. If it died, its sockets have been gone for two beats at least
    /// (its key outlived its last beat by three, and it died within a beat of that beat): the
    /// grace counts from then, so its users leave within three beats plus the grace of its
    /// death. A node that is only cut off from Redis keeps a beat of grace at least to come
    /// back (and rewrite its entries, which cancels the departures) before they are announced.
    Dead,
}

/// Removes every entry `node` has in `ns` (it died, or is leaving), starting the departures
/// they end.
pub(super) async fn reap(
    cluster: &Cluster,
    ns: &str,
    node: &str,
    gone: Gone,
) -> redis::RedisResult<()> {
    let keys = roster_prefix(&cluster.prefix, ns);
    let full = grace_ms(cluster, ns);
    let grace = match gone {
        Gone::Leaving => full,
        Gone::Dead => {
            let beat = u64::try_from(cluster.heartbeat.as_millis()).unwrap_or(u64::MAX);
            full.saturating_sub(beat.saturating_mul(2))
                .max(beat.min(full))
        }
    };
    loop {
        let left: usize = REAP
            .key(format!("{keys}node:{node}"))
            .key(format!("{keys}nodes"))
            .key(format!("{keys}departing"))
            .arg(node)
            .arg(&keys)
            .arg(grace)
            .arg(BATCH)
            .invoke_async(&mut cluster.publisher())
            .await?;
        if left == 0 {
            return Ok(());
        }
    }
}

/// The users of `group`, those within their grace included, sorted; `None` when Redis cannot be
/// reached.
pub(super) async fn members(cluster: &Cluster, ns: &str, group: &Group) -> Option<Vec<String>> {
    let keys = roster_prefix(&cluster.prefix, ns);
    let mut conn = cluster.publisher();
    let mut users: Vec<String> = conn
        .hkeys(format!("{keys}users:{}", group.encode()))
        .await
        .ok()?;
    let tag = tagged(group);
    // Channel names hold no glob characters (`validate_channel`); the user part is matched by
    // the prefix below.
    let (key, pattern) = (format!("{keys}departing"), format!("{tag}*"));
    let mut departing = Vec::new();
    let mut cursor = 0u64;
    loop {
        // Member, score, member, score…
        let (next, page): (u64, Vec<String>) = redis::cmd("ZSCAN")
            .arg(&key)
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(BATCH)
            .query_async(&mut conn)
            .await
            .ok()?;
        departing.extend(page.into_iter().step_by(2));
        if next == 0 {
            break;
        }
        cursor = next;
    }
    users.extend(
        departing
            .iter()
            .filter_map(|m| m.strip_prefix(&tag))
            .map(str::to_owned),
    );
    users.sort();
    users.dedup();
    Some(users)
}

/// Takes due departures every [`TICK`], and every half beat removes the entries of dead nodes
/// and rewrites this node's own if another node removed them (it was taken for dead); until the
/// cluster is dropped or leaves. Checking at half beats finds a dead node within half a beat
/// (and a tick) of its key's expiry.
pub(super) async fn run(cluster: Weak<Cluster>) {
    let mut since_check = Duration::MAX;
    loop {
        {
            let Some(cluster) = cluster.upgrade() else {
                return;
            };
            if cluster.is_leaving() {
                return;
            }
            if cluster.state() == ClusterState::Connected {
                let namespaces = cluster.roster_namespaces();
                for ns in &namespaces {
                    match settle(&cluster, ns).await {
                        Ok(changes) => changes.into_iter().for_each(|c| cluster.announce(ns, c)),
                        Err(e) => tracing::debug!(error = %e, ns, "departures not settled"),
                    }
                }
                if since_check >= cluster.heartbeat / 2 && !namespaces.is_empty() {
                    since_check = Duration::ZERO;
                    check_nodes(&cluster, &namespaces).await;
                }
            }
        }
        since_check = since_check.saturating_add(TICK);
        tokio::time::sleep(TICK).await;
    }
}

/// Reaps dead nodes' entries; rewrites this node's when they were reaped.
async fn check_nodes(cluster: &Cluster, namespaces: &[String]) {
    let Some(me) = cluster.node_id.as_deref() else {
        return;
    };
    for ns in namespaces {
        let keys = roster_prefix(&cluster.prefix, ns);
        let Ok(nodes) = cluster
            .publisher()
            .smembers::<_, Vec<String>>(format!("{keys}nodes"))
            .await
        else {
            continue;
        };
        if !nodes.iter().any(|n| n == me) && cluster.holds_roster_entries(ns) {
            tracing::info!(
                ns,
                "this node's presence entries were removed; rewriting them"
            );
            cluster.rewrite_roster(ns);
        }
        let others: Vec<String> = nodes.into_iter().filter(|n| n != me).collect();
        let Some(alive) = live_nodes(cluster, &others).await else {
            continue;
        };
        for (node, alive) in others.iter().zip(alive) {
            if !alive {
                tracing::info!(ns, node, "removing the presence entries of a dead node");
                // Its key outlived its last beat by three beats, and it died within a beat
                // of that beat: its sockets have been gone for two beats at least.
                if let Err(e) = reap(cluster, ns, node, Gone::Dead).await {
                    tracing::debug!(error = %e, ns, node, "dead node's entries not removed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{tagged, untag};
    use crate::presence::Group;

    #[test]
    fn members_name_their_group_and_user() {
        let group = Group::Channel("a:b".into());
        let member = format!("{}al:ice", tagged(&group));
        assert_eq!(member, "5:c:a:bal:ice");
        assert_eq!(untag(&member), Some((group, "al:ice")));
        assert_eq!(untag("9:c:a"), None);
        assert_eq!(untag("x"), None);
    }
}
