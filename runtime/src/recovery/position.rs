//! A position in the recovery history: `<ms>-<seq>`, like a Redis stream id.

use std::fmt;
use std::str::FromStr;

/// Where an event sits in a namespace's recovery history: the millisecond it was recorded at
/// (by the recording clock: this process in embedded mode, the Redis server in cluster mode),
/// then a sequence number within that millisecond. Written `<ms>-<seq>`, like a Redis stream id.
///
/// One clock numbers every stream of a namespace, so positions of different streams compare:
/// a socket that saw position `p` has seen everything of its streams up to `p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct Position {
    pub(crate) ms: u64,
    pub(crate) seq: u64,
}

impl Position {
    /// The position after `self` at time `now_ms` (never going back when the clock does).
    pub(crate) fn next(self, now_ms: u64) -> Self {
        if now_ms > self.ms {
            Self { ms: now_ms, seq: 0 }
        } else {
            Self {
                ms: self.ms,
                seq: self.seq + 1,
            }
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// A position that is not `<ms>-<seq>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadPosition;

impl FromStr for Position {
    type Err = BadPosition;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ms, seq) = s.split_once('-').ok_or(BadPosition)?;
        let digits =
            |p: &str| !p.is_empty() && p.len() <= 20 && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(seq) {
            return Err(BadPosition);
        }
        Ok(Self {
            ms: ms.parse().map_err(|_| BadPosition)?,
            seq: seq.parse().map_err(|_| BadPosition)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Position;

    #[test]
    fn positions_read_back_and_order_by_time_then_sequence() {
        let p: Position = "1733400000000-7".parse().unwrap();
        assert_eq!(p.to_string(), "1733400000000-7");
        assert!(p < "1733400000000-8".parse().unwrap());
        assert!(p < "1733400000001-0".parse().unwrap());
        for bad in [
            "",
            "1",
            "-1",
            "1-",
            "a-1",
            "1-1-1",
            "+1-1",
            "1 -1",
            "99999999999999999999999-0",
        ] {
            assert!(bad.parse::<Position>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_next_position_never_goes_back() {
        let p = Position { ms: 100, seq: 3 };
        assert_eq!(p.next(100), Position { ms: 100, seq: 4 });
        assert_eq!(
            p.next(90),
            Position { ms: 100, seq: 4 },
            "the clock went back"
        );
        assert_eq!(p.next(101), Position { ms: 101, seq: 0 });
    }
}
