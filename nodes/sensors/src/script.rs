//! Pose strings (`w-8, right-30, d-4`) and drive scripts (`throttle=0.6 steer=0 x40; brake=1 x10`).
//!
//! A pose string is a comma-separated list of `keys-count` items; `keys` is one key name or several joined by
//! `+` (`w+right-10`). Each item expands to `count` ticks holding those keys.

use worldflow_protocol::{Keys, VehicleControl};

/// Expands a pose string into one key set per tick. Errors name the item and what was expected.
pub fn parse_pose_string(text: &str) -> Result<Vec<Keys>, String> {
    let mut ticks = Vec::new();
    for (i, item) in text.split(',').map(str::trim).enumerate() {
        if item.is_empty() {
            continue;
        }
        let (names, count) = item
            .rsplit_once('-')
            .ok_or_else(|| format!("item {} `{item}`: expected `<keys>-<count>`, e.g. `w-8`", i + 1))?;
        let count: usize = count.trim().parse().map_err(|_| {
            format!("item {} `{item}`: `{count}` is not a tick count (expected a non-negative integer)", i + 1)
        })?;
        let mut keys = Keys::NONE;
        for name in names.split('+').map(str::trim) {
            let k = Keys::from_name(name).ok_or_else(|| {
                format!("item {} `{item}`: unknown key `{name}` (expected w, s, a, d, up, down, left, right)", i + 1)
            })?;
            keys = keys.union(k);
        }
        ticks.extend(std::iter::repeat_n(keys, count));
    }
    if ticks.is_empty() {
        return Err("pose string holds no ticks (expected e.g. `w-8, right-30`)".into());
    }
    Ok(ticks)
}

/// Expands a drive script: `;`-separated segments of `name=value` pairs and a repeat `xN`.
pub fn parse_drive_script(text: &str) -> Result<Vec<VehicleControl>, String> {
    let mut ticks = Vec::new();
    for (i, seg) in text.split(';').map(str::trim).enumerate() {
        if seg.is_empty() {
            continue;
        }
        let mut c = VehicleControl::default();
        let mut count = None;
        for word in seg.split_whitespace() {
            if let Some(n) = word.strip_prefix('x') {
                count = Some(
                    n.parse::<usize>()
                        .map_err(|_| format!("segment {} `{seg}`: `{word}` is not a repeat like x40", i + 1))?,
                );
                continue;
            }
            let (k, v) = word
                .split_once('=')
                .ok_or_else(|| format!("segment {} `{seg}`: expected `name=value`, found `{word}`", i + 1))?;
            let v: f32 = v.parse().map_err(|_| format!("segment {} `{seg}`: `{v}` is not a number", i + 1))?;
            match k {
                "throttle" => c.throttle = v,
                "steer" => c.steer = v,
                "brake" => c.brake = v,
                _ => {
                    return Err(format!(
                        "segment {} `{seg}`: unknown control `{k}` (expected throttle, steer, brake)",
                        i + 1
                    ))
                }
            }
        }
        c.validate().map_err(|e| format!("segment {} `{seg}`: {e}", i + 1))?;
        let count = count.ok_or_else(|| format!("segment {} `{seg}`: missing repeat count `xN`", i + 1))?;
        ticks.extend(std::iter::repeat_n(c, count));
    }
    if ticks.is_empty() {
        return Err("drive script holds no ticks".into());
    }
    Ok(ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pose_string_expands() {
        let t = parse_pose_string("w-2, right-1, w+d-1").unwrap();
        assert_eq!(t, vec![Keys::W, Keys::W, Keys::RIGHT, Keys::W.union(Keys::D)]);
    }

    #[test]
    fn pose_string_errors_name_the_item() {
        let e = parse_pose_string("w-2, rigth-30").unwrap_err();
        assert!(e.contains("item 2") && e.contains("rigth"), "{e}");
        assert!(parse_pose_string("w-x").unwrap_err().contains("tick count"));
        assert!(parse_pose_string("w").unwrap_err().contains("item 1"));
    }

    #[test]
    fn drive_script_expands_and_validates() {
        let t = parse_drive_script("throttle=0.5 x2; brake=1 steer=-0.5 x1").unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t[2], VehicleControl { throttle: 0.0, steer: -0.5, brake: 1.0 });
        assert!(parse_drive_script("throttle=2 x1").unwrap_err().contains("throttle"));
        assert!(parse_drive_script("throttle=0.2").unwrap_err().contains("xN"));
    }
}
