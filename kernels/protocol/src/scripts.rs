//! Action scripts in text form, as the sensors node's `SCRIPT` setting and tests take them: pose strings
//! (`w-8, right-30, d-4`) and drive scripts (`throttle=0.6 steer=0 x40; brake=1 x10`).
//!
//! A pose string is a comma-separated list of `keys-count` items; `keys` is one key name or several joined by
//! `+` (`w+right-10`). Each item expands to `count` ticks holding those keys.

use std::num::{ParseFloatError, ParseIntError};

use crate::commands::{CommandError, VehicleControl};
use crate::messages::Keys;

/// A pose string or drive script that does not parse; names the item (or segment) and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("item {item} `{text}`: expected `<keys>-<count>`, e.g. `w-8`")]
    NoCount { item: usize, text: String },
    #[error("item {item} `{text}`: `{count}` is not a tick count (expected a non-negative integer)")]
    BadCount {
        item: usize,
        text: String,
        count: String,
        #[source]
        source: ParseIntError,
    },
    #[error("item {item} `{text}`: unknown key `{name}` (expected w, s, a, d, up, down, left, right)")]
    UnknownKey { item: usize, text: String, name: String },
    #[error("pose string holds no ticks (expected e.g. `w-8, right-30`)")]
    NoTicks,
    #[error("segment {segment} `{text}`: `{word}` is not a repeat like x40")]
    BadRepeat {
        segment: usize,
        text: String,
        word: String,
        #[source]
        source: ParseIntError,
    },
    #[error("segment {segment} `{text}`: expected `name=value`, found `{word}`")]
    NotAPair { segment: usize, text: String, word: String },
    #[error("segment {segment} `{text}`: `{value}` is not a number")]
    NotANumber {
        segment: usize,
        text: String,
        value: String,
        #[source]
        source: ParseFloatError,
    },
    #[error("segment {segment} `{text}`: unknown control `{name}` (expected throttle, steer, brake)")]
    UnknownControl { segment: usize, text: String, name: String },
    #[error("segment {segment} `{text}`: not a valid vehicle control")]
    BadControl {
        segment: usize,
        text: String,
        #[source]
        source: CommandError,
    },
    #[error("segment {segment} `{text}`: missing repeat count `xN`")]
    NoRepeat { segment: usize, text: String },
    #[error("drive script holds no ticks")]
    NoDriveTicks,
    #[error("{part} `{text}`: the script would hold {ticks} ticks, more than the {MAX_SCRIPT_TICKS} a script may hold (a day at 10 Hz is 864000; repeat a short script with LOOP=true instead)")]
    TooLong { part: String, text: String, ticks: u128 },
}

/// The most ticks a pose string or drive script may expand to (checked before anything is allocated).
pub const MAX_SCRIPT_TICKS: usize = 2_000_000;

/// Adds `count` ticks of `part` to `total`, or says the script is too long.
fn add_ticks(total: usize, count: usize, part: String, text: &str) -> Result<usize, ScriptError> {
    let sum = total as u128 + count as u128;
    if sum > MAX_SCRIPT_TICKS as u128 {
        return Err(ScriptError::TooLong { part, text: text.into(), ticks: sum });
    }
    Ok(sum as usize)
}

/// Expands a pose string into one key set per tick. Errors name the item and what was expected.
pub fn parse_pose_string(text: &str) -> Result<Vec<Keys>, ScriptError> {
    let mut ticks = Vec::new();
    for (i, item) in text.split(',').map(str::trim).enumerate() {
        if item.is_empty() {
            continue;
        }
        let (names, count) =
            item.rsplit_once('-').ok_or_else(|| ScriptError::NoCount { item: i + 1, text: item.into() })?;
        let count: usize = count.trim().parse().map_err(|source| ScriptError::BadCount {
            item: i + 1,
            text: item.into(),
            count: count.into(),
            source,
        })?;
        let mut keys = Keys::NONE;
        for name in names.split('+').map(str::trim) {
            let k = Keys::from_name(name).ok_or_else(|| ScriptError::UnknownKey {
                item: i + 1,
                text: item.into(),
                name: name.into(),
            })?;
            keys = keys.union(k);
        }
        add_ticks(ticks.len(), count, format!("item {}", i + 1), item)?;
        ticks.extend(std::iter::repeat_n(keys, count));
    }
    if ticks.is_empty() {
        return Err(ScriptError::NoTicks);
    }
    Ok(ticks)
}

/// Expands a drive script: `;`-separated segments of `name=value` pairs (`throttle`, `steer`, `brake`; unset
/// ones are 0; `steer` > 0 turns right, see [`VehicleControl`]) and a repeat `xN`.
pub fn parse_drive_script(text: &str) -> Result<Vec<VehicleControl>, ScriptError> {
    let mut ticks = Vec::new();
    for (i, seg) in text.split(';').map(str::trim).enumerate() {
        if seg.is_empty() {
            continue;
        }
        let mut c = VehicleControl::default();
        let mut count = None;
        for word in seg.split_whitespace() {
            if let Some(n) = word.strip_prefix('x') {
                count = Some(n.parse::<usize>().map_err(|source| ScriptError::BadRepeat {
                    segment: i + 1,
                    text: seg.into(),
                    word: word.into(),
                    source,
                })?);
                continue;
            }
            let (k, v) = word.split_once('=').ok_or_else(|| ScriptError::NotAPair {
                segment: i + 1,
                text: seg.into(),
                word: word.into(),
            })?;
            let v: f32 = v.parse().map_err(|source| ScriptError::NotANumber {
                segment: i + 1,
                text: seg.into(),
                value: v.into(),
                source,
            })?;
            match k {
                "throttle" => c.throttle = v,
                "steer" => c.steer = v,
                "brake" => c.brake = v,
                _ => return Err(ScriptError::UnknownControl { segment: i + 1, text: seg.into(), name: k.into() }),
            }
        }
        c.validate().map_err(|e| ScriptError::BadControl { segment: i + 1, text: seg.into(), source: e })?;
        let count = count.ok_or_else(|| ScriptError::NoRepeat { segment: i + 1, text: seg.into() })?;
        add_ticks(ticks.len(), count, format!("segment {}", i + 1), seg)?;
        ticks.extend(std::iter::repeat_n(c, count));
    }
    if ticks.is_empty() {
        return Err(ScriptError::NoDriveTicks);
    }
    Ok(ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_too_long_to_hold_are_errors_before_allocating() {
        // `w-100000000000` tried to allocate 200 GB; u64::MAX ticks overflowed the capacity.
        for (text, part) in
            [("w-100000000000", "item 1"), ("w-18446744073709551615", "item 1"), ("w-1500000, d-1500000", "item 2")]
        {
            let e = parse_pose_string(text).unwrap_err().to_string();
            assert!(e.starts_with(part) && e.contains("more than the 2000000 a script may hold"), "{e}");
        }
        let e = parse_drive_script("throttle=1 x99999999999999").unwrap_err().to_string();
        assert!(e.starts_with("segment 1") && e.contains("99999999999999 ticks"), "{e}");
        assert_eq!(parse_pose_string("w-2000000").unwrap().len(), MAX_SCRIPT_TICKS);
    }

    #[test]
    fn pose_string_expands() {
        let t = parse_pose_string("w-2, right-1, w+d-1").unwrap();
        assert_eq!(t, vec![Keys::W, Keys::W, Keys::RIGHT, Keys::W.union(Keys::D)]);
    }

    #[test]
    fn pose_string_errors_name_the_item() {
        let e = parse_pose_string("w-2, rigth-30").unwrap_err().to_string();
        assert!(e.contains("item 2") && e.contains("rigth"), "{e}");
        assert!(parse_pose_string("w-x").unwrap_err().to_string().contains("tick count"));
        assert!(parse_pose_string("w").unwrap_err().to_string().contains("item 1"));
    }

    #[test]
    fn drive_script_expands_and_validates() {
        let t = parse_drive_script("throttle=0.5 x2; brake=1 steer=-0.5 x1").unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t[2], VehicleControl { throttle: 0.0, steer: -0.5, brake: 1.0 });
        assert!(parse_drive_script("throttle=2 x1").unwrap_err().to_string().contains("throttle"));
        assert!(parse_drive_script("throttle=0.2").unwrap_err().to_string().contains("xN"));
    }
}
