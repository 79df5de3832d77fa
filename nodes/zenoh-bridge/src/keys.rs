//! The key layout, version 1 (`@v1`: a verbatim chunk, so `**` never matches across versions):
//!
//! ```text
//! worldflow/@v1/<world>/agent/<id>/frame/<camera>   frames (out)       raw pixels + JSON header attachment
//! worldflow/@v1/<world>/agent/<id>/pose             ego poses (out)    JSON StampedPose
//! worldflow/@v1/<world>/world                       world state (out)  JSON WorldDelta
//! worldflow/@v1/<world>/agent/<id>/action           actions (in)       JSON command
//! worldflow/@v1/<world>/agents/<id>                 liveliness token   one per present agent
//! ```
//!
//! `<id>` is the agent's number (`0`, `1`, …: dora's `agentN` without the prefix); `<world>` the bridge's
//! `WORLD` setting; `<camera>` the rig's camera name. Names are checked here: a chunk is 1..=64 characters of
//! `A-Z a-z 0-9 _ - .` (so it can never contain a wildcard, a `/`, or start with the verbatim `@`).

/// The version chunk of every key.
pub const VERSION: &str = "@v1";

/// What a name must be to be a key chunk.
pub const CHUNK: &str = "1..=64 characters of A-Z a-z 0-9 _ - . (a single Zenoh key chunk)";

/// A name that cannot be a key chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} `{name}`: expected {CHUNK}")]
pub struct NameError {
    pub what: &'static str,
    pub name: String,
}

/// Checks `name` can be a key chunk (`what` names it in the error: `WORLD`, `camera`, …).
pub fn check_chunk(what: &'static str, name: &str) -> Result<(), NameError> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    match ok {
        true => Ok(()),
        false => Err(NameError { what, name: name.to_owned() }),
    }
}

/// Why an action key was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionKeyError {
    #[error("not an action key of this world (expected {prefix}/agent/<id>/action)")]
    Layout { prefix: String },
    #[error("agent id `{0}`: expected a number 0, 1, … without leading zeros")]
    BadId(String),
}

/// The keys of one world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpace {
    /// `worldflow/@v1/<world>`.
    prefix: String,
}

impl KeySpace {
    /// The key space of `world` (checked as a key chunk).
    pub fn new(world: &str) -> Result<Self, NameError> {
        check_chunk("WORLD", world)?;
        Ok(Self { prefix: format!("worldflow/{VERSION}/{world}") })
    }

    /// `worldflow/@v1/<world>`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Frames of `agent`'s camera `camera` (checked).
    pub fn frame(&self, agent: u32, camera: &str) -> Result<String, NameError> {
        check_chunk("camera", camera)?;
        Ok(format!("{}/agent/{agent}/frame/{camera}", self.prefix))
    }

    /// `agent`'s ego pose.
    pub fn pose(&self, agent: u32) -> String {
        format!("{}/agent/{agent}/pose", self.prefix)
    }

    /// The world state.
    pub fn world(&self) -> String {
        format!("{}/world", self.prefix)
    }

    /// The selector the bridge subscribes to for actions: every agent's.
    pub fn actions(&self) -> String {
        format!("{}/agent/*/action", self.prefix)
    }

    /// `agent`'s action key (what a peer puts on).
    pub fn action(&self, agent: u32) -> String {
        format!("{}/agent/{agent}/action", self.prefix)
    }

    /// `agent`'s liveliness token.
    pub fn token(&self, agent: u32) -> String {
        format!("{}/agents/{agent}", self.prefix)
    }

    /// The agent an action key is for.
    pub fn agent_of_action(&self, key: &str) -> Result<u32, ActionKeyError> {
        let layout = || ActionKeyError::Layout { prefix: self.prefix.clone() };
        let id = key
            .strip_prefix(self.prefix.as_str())
            .and_then(|k| k.strip_prefix("/agent/"))
            .and_then(|k| k.strip_suffix("/action"))
            .ok_or_else(layout)?;
        if id.contains('/') {
            return Err(layout());
        }
        let digits = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
        if !digits || (id.len() > 1 && id.starts_with('0')) {
            return Err(ActionKeyError::BadId(id.to_owned()));
        }
        id.parse().map_err(|_| ActionKeyError::BadId(id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_versioned_layout() {
        let k = KeySpace::new("town").unwrap();
        assert_eq!(k.frame(0, "front").unwrap(), "worldflow/@v1/town/agent/0/frame/front");
        assert_eq!(k.pose(12), "worldflow/@v1/town/agent/12/pose");
        assert_eq!(k.world(), "worldflow/@v1/town/world");
        assert_eq!(k.actions(), "worldflow/@v1/town/agent/*/action");
        assert_eq!(k.token(1), "worldflow/@v1/town/agents/1");
        for key in [k.frame(3, "rear").unwrap(), k.pose(3), k.world(), k.actions(), k.token(3)] {
            zenoh::key_expr::KeyExpr::try_from(key.as_str()).unwrap_or_else(|e| panic!("{key}: {e}"));
        }
    }

    #[test]
    fn action_keys_parse_to_their_agent() {
        let k = KeySpace::new("town").unwrap();
        assert_eq!(k.agent_of_action(&k.action(0)), Ok(0));
        assert_eq!(k.agent_of_action("worldflow/@v1/town/agent/17/action"), Ok(17));
        for bad in ["01", "x", "-1", "99999999999"] {
            let key = format!("worldflow/@v1/town/agent/{bad}/action");
            assert_eq!(k.agent_of_action(&key), Err(ActionKeyError::BadId(bad.to_owned())), "{key}");
        }
        for other in [
            "worldflow/@v1/city/agent/0/action",
            "worldflow/@v1/town/agent/0/pose",
            "worldflow/@v1/town/agent/0/x/action",
            "worldflow/@v2/town/agent/0/action",
        ] {
            let e = k.agent_of_action(other).unwrap_err();
            assert!(matches!(e, ActionKeyError::Layout { .. }), "{other}: {e}");
        }
    }

    #[test]
    fn names_that_are_not_one_plain_chunk_are_refused() {
        for bad in ["", "a/b", "*", "**", "@v2", "a$b", "x?", "#", &"a".repeat(65)] {
            let e = KeySpace::new(bad).unwrap_err();
            assert!(e.to_string().starts_with(&format!("WORLD `{bad}`: expected")), "{e}");
        }
        let k = KeySpace::new("Town_2.b-c").unwrap();
        assert!(k.frame(0, "front/left").unwrap_err().to_string().starts_with("camera `front/left`"));
    }
}
