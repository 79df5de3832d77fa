//! The `AGENTS` setting: which agents' poses this renderer draws. `all` (default) draws every pose it gets;
//! `0`, `0,2`, `1-3` (ids and inclusive ranges, comma-separated) only those agents', so one renderer per agent
//! (one per robot host) can share the Director's `ego_pose` output.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// What a valid `AGENTS` value looks like (the settings error says it).
pub const EXPECTED: &str = "all or agent ids like 0,2 or 1-3";

/// The agents a renderer draws.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AgentFilter {
    /// Every agent.
    #[default]
    All,
    /// Only these ids (inclusive ranges; a single id is a range of one).
    Only(Vec<RangeInclusive<u32>>),
}

impl AgentFilter {
    /// Whether poses of `agent` are drawn.
    pub fn admits(&self, agent: u32) -> bool {
        match self {
            Self::All => true,
            Self::Only(ranges) => ranges.iter().any(|r| r.contains(&agent)),
        }
    }
}

/// Why an `AGENTS` value does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentsError(String);

impl fmt::Display for AgentsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AgentsError {}

impl FromStr for AgentFilter {
    type Err = AgentsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "all" {
            return Ok(Self::All);
        }
        let id = |t: &str| -> Result<u32, AgentsError> {
            let t = t.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(AgentsError(format!("`{t}` is not an agent id")));
            }
            t.parse().map_err(|_| AgentsError(format!("agent id `{t}` is too large")))
        };
        let mut ranges = Vec::new();
        for item in s.split(',') {
            let range = match item.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (id(a)?, id(b)?);
                    if a > b {
                        return Err(AgentsError(format!("range `{}` runs backwards", item.trim())));
                    }
                    a..=b
                }
                None => {
                    let a = id(item)?;
                    a..=a
                }
            };
            ranges.push(range);
        }
        Ok(Self::Only(ranges))
    }
}

impl fmt::Display for AgentFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::Only(ranges) => {
                let items: Vec<String> = ranges
                    .iter()
                    .map(|r| {
                        if r.start() == r.end() {
                            r.start().to_string()
                        } else {
                            format!("{}-{}", r.start(), r.end())
                        }
                    })
                    .collect();
                f.write_str(&items.join(","))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_ranges_parse_and_bad_values_say_why() {
        assert_eq!("all".parse::<AgentFilter>().unwrap(), AgentFilter::All);
        let f: AgentFilter = "0, 2,5-7".parse().unwrap();
        let admitted: Vec<u32> = (0..10).filter(|a| f.admits(*a)).collect();
        assert_eq!(admitted, [0, 2, 5, 6, 7]);
        assert_eq!(f.to_string(), "0,2,5-7");
        assert!(AgentFilter::All.admits(12345));
        for (bad, why) in [
            ("", "`` is not an agent id"),
            ("x", "`x` is not an agent id"),
            ("1,", "`` is not an agent id"),
            ("-1", "`` is not an agent id"),
            ("3-1", "range `3-1` runs backwards"),
            ("1-2-3", "`2-3` is not an agent id"),
            ("99999999999", "agent id `99999999999` is too large"),
        ] {
            assert_eq!(bad.parse::<AgentFilter>().unwrap_err().to_string(), why, "{bad:?}");
        }
    }
}
