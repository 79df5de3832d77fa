//! Formations of drones: where each of `n` agents should be at a time (its **slot**), and the velocity
//! set-point that takes a drone there (a P-controller on the slot position, take-off first).
//!
//! **Syntax** (the sensors node's `FORMATION`): phases separated by `;`, each a shape and `key=value` words:
//!
//! ```text
//! line spacing=4 altitude=25 heading=90; ring radius=20 altitude=25 heading=90 after=10s
//! ```
//!
//! * `line spacing=M`: agent k at `(k − (n−1)/2)·spacing` along the heading axis (agent 0 at its back end).
//! * `ring radius=M`: agents on a circle; slot angles `heading + 360°·(j + ½)/n`, handed out in order along the
//!   heading axis (agent 0 at the back, alternating sides), so a line of the same heading and centre folds
//!   onto the ring without crossing paths.
//! * every shape: `altitude=M` (base height above the ground, default 10, in [1, 120]), `heading=DEG` (the
//!   shape's axis, counter-clockwise from world +x, default 0), `centre=X,Y` (metres, default: the centroid
//!   of the agents' spawns), `after=S` or `after=Ss` (the phase starts at S seconds of simulated time; the
//!   first phase starts at 0, later ones later than the one before).
//!
//! **Controller.** A landed (or taking-off) drone is sent straight up at its vertical speed limit; a flying
//! one gets `v = POSITION_GAIN_PER_S · (slot − position)` (world frame, clamped to its speed limits, then
//! turned into its body frame) and a yaw rate `YAW_GAIN_PER_S · (yaw target − yaw)`.
//!
//! Invariants: slots are pure functions of (formation, n, k, t, centre); parse errors name the phase and the
//! key; nothing here panics on bad input.

use glam::{Vec2, Vec3};
use worldflow_protocol::VelocityCommand;

use crate::drone::{DroneEgo, DronePhase};

/// Gain of the slot controller, 1/s (velocity per metre of position error).
pub const POSITION_GAIN_PER_S: f32 = 1.0;
/// Gain of the yaw hold, 1/s.
pub const YAW_GAIN_PER_S: f32 = 1.0;
/// Most phases a formation may hold.
pub const MAX_PHASES: usize = 64;

/// A formation setting that does not parse; names the phase (1-based) and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormationError {
    #[error("phase {phase} `{text}`: {message}")]
    Phase { phase: usize, text: String, message: String },
    #[error("formation holds no phase (expected e.g. `line spacing=4 altitude=25`)")]
    Empty,
    #[error("formation holds {0} phases, more than {MAX_PHASES}")]
    TooMany(usize),
}

/// The shape of a phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    Line { spacing_m: f32 },
    Ring { radius_m: f32 },
}

/// One phase of a formation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FormationPhase {
    pub shape: Shape,
    /// Base height above the ground, metres.
    pub altitude_m: f32,
    /// The shape's axis, degrees counter-clockwise from world +x.
    pub heading_deg: f32,
    /// Centre (world xy, metres); `None`: the centroid of the spawns.
    pub centre_m: Option<Vec2>,
    /// Start, seconds of simulated time.
    pub start_secs: f32,
}

/// A sequence of phases.
#[derive(Debug, Clone, PartialEq)]
pub struct Formation {
    pub phases: Vec<FormationPhase>,
}

fn number(key: &str, value: &str, lo: f32, hi: f32, what: &str) -> Result<f32, String> {
    let v: f32 = value.parse().map_err(|_| format!("{key}=`{value}` is not a number (expected {what})"))?;
    if !(v.is_finite() && (lo..=hi).contains(&v)) {
        return Err(format!("{key}={value}: expected {what} in [{lo}, {hi}]"));
    }
    Ok(v)
}

fn parse_phase(text: &str) -> Result<FormationPhase, String> {
    let mut words = text.split_whitespace();
    let shape_name = words.next().unwrap_or("");
    let is_line = match shape_name {
        "line" => true,
        "ring" => false,
        other => return Err(format!("unknown shape `{other}` (expected line or ring)")),
    };
    let (mut spacing, mut radius, mut altitude, mut heading, mut centre, mut start) =
        (None, None, 10.0, 0.0, None, 0.0);
    for word in words {
        let (key, value) = word.split_once('=').ok_or_else(|| format!("expected `key=value`, found `{word}`"))?;
        match key {
            "spacing" if is_line => spacing = Some(number(key, value, 0.5, 1000.0, "metres")?),
            "radius" if !is_line => radius = Some(number(key, value, 0.5, 1000.0, "metres")?),
            "altitude" => altitude = number(key, value, 1.0, 120.0, "metres above the ground")?,
            "heading" => heading = number(key, value, -360.0, 360.0, "degrees")?,
            "after" => start = number(key, value.strip_suffix('s').unwrap_or(value), 0.0, 1e6, "seconds")?,
            "centre" => {
                let xy: Vec<f32> = value.split(',').filter_map(|v| v.trim().parse().ok()).collect();
                match xy[..] {
                    [x, y] if x.is_finite() && y.is_finite() => centre = Some(Vec2::new(x, y)),
                    _ => return Err(format!("centre=`{value}`: expected two numbers X,Y (metres)")),
                }
            }
            _ => {
                let keys = if is_line { "spacing" } else { "radius" };
                return Err(format!(
                    "unknown key `{key}` for {shape_name} (expected {keys}, altitude, heading, centre, after)"
                ));
            }
        }
    }
    let shape = if is_line {
        Shape::Line { spacing_m: spacing.ok_or("a line needs spacing=M (metres between agents)")? }
    } else {
        Shape::Ring { radius_m: radius.ok_or("a ring needs radius=M (metres)")? }
    };
    Ok(FormationPhase { shape, altitude_m: altitude, heading_deg: heading, centre_m: centre, start_secs: start })
}

impl Formation {
    /// Parses the formation syntax (see the module header).
    pub fn parse(text: &str) -> Result<Self, FormationError> {
        let parts: Vec<&str> = text.split(';').map(str::trim).filter(|p| !p.is_empty()).collect();
        if parts.len() > MAX_PHASES {
            return Err(FormationError::TooMany(parts.len()));
        }
        let mut phases: Vec<FormationPhase> = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let bad = |message: String| FormationError::Phase { phase: i + 1, text: (*part).into(), message };
            let phase = parse_phase(part).map_err(bad)?;
            match phases.last() {
                None if phase.start_secs != 0.0 => return Err(bad("the first phase starts at 0 (no after=)".into())),
                Some(prev) if phase.start_secs <= prev.start_secs => {
                    return Err(bad(format!(
                        "after={}: expected a start later than the previous phase's ({} s)",
                        phase.start_secs, prev.start_secs
                    )))
                }
                _ => {}
            }
            phases.push(phase);
        }
        if phases.is_empty() {
            return Err(FormationError::Empty);
        }
        Ok(Self { phases })
    }

    /// The phase in force at `t_secs`.
    pub fn phase_at(&self, t_secs: f32) -> &FormationPhase {
        let i = self.phases.iter().rposition(|p| p.start_secs <= t_secs).unwrap_or(0);
        &self.phases[i]
    }

    /// The slot (base position, world frame, metres) of agent `k` of `n` at `t_secs`; `centre_m` is used
    /// where the phase gives none.
    pub fn slot(&self, k: usize, n: usize, t_secs: f32, centre_m: Vec2) -> Vec3 {
        let phase = self.phase_at(t_secs);
        let n = n.max(1);
        let k = k.min(n - 1);
        let axis = Vec2::from_angle(phase.heading_deg.to_radians());
        let offset = match phase.shape {
            Shape::Line { spacing_m } => axis * ((k as f32 - 0.5 * (n as f32 - 1.0)) * spacing_m),
            Shape::Ring { radius_m } => axis.rotate(ring_direction(k, n)) * radius_m,
        };
        (phase.centre_m.unwrap_or(centre_m) + offset).extend(phase.altitude_m)
    }
}

/// Unit direction (in the ring's axis frame) of agent `k`'s ring slot of `n`: slots sorted along the axis,
/// ties (mirror pairs) by side.
fn ring_direction(k: usize, n: usize) -> Vec2 {
    let dir = |j: usize| Vec2::from_angle(std::f32::consts::TAU * (j as f32 + 0.5) / n as f32);
    let key = |j: usize| ((dir(j).x * 1e4).round() as i64, (dir(j).y * 1e4).round() as i64);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&j| key(j));
    dir(order[k])
}

/// The set-point that takes `drone` to `slot_m` facing `yaw_target_rad` (see the module header).
pub fn slot_command(drone: &DroneEgo, slot_m: Vec3, yaw_target_rad: f32) -> VelocityCommand {
    let p = drone.params();
    if matches!(drone.phase(), DronePhase::Landed | DronePhase::TakingOff | DronePhase::Landing) {
        return VelocityCommand { up_mps: p.max_vertical_speed_mps, ..Default::default() };
    }
    let error = slot_m - drone.position_m();
    let horizontal = (error.truncate() * POSITION_GAIN_PER_S).clamp_length_max(p.max_horizontal_speed_mps);
    let body = Vec2::from_angle(-drone.yaw_rad()).rotate(horizontal);
    let yaw_error = (yaw_target_rad - drone.yaw_rad() + std::f32::consts::PI).rem_euclid(std::f32::consts::TAU)
        - std::f32::consts::PI;
    VelocityCommand {
        forward_mps: body.x,
        left_mps: body.y,
        up_mps: (error.z * POSITION_GAIN_PER_S).clamp(-p.max_vertical_speed_mps, p.max_vertical_speed_mps),
        yaw_rate_rps: (yaw_error * YAW_GAIN_PER_S).clamp(-p.max_yaw_rate_rps, p.max_yaw_rate_rps),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collision::Surroundings;
    use crate::drone::DroneParams;

    const LINE_TO_RING: &str = "line spacing=4 altitude=12 heading=90; ring radius=12 altitude=12 heading=90 after=8s";

    #[test]
    fn parses_and_places_line_and_ring_slots() {
        let f = Formation::parse(LINE_TO_RING).unwrap();
        assert_eq!(f.phases.len(), 2);
        let c = Vec2::new(50.0, 50.0);
        // Line along +y: agent 0 at the back (−y), 4 m apart, at 12 m.
        assert!((f.slot(0, 4, 0.0, c) - Vec3::new(50.0, 44.0, 12.0)).length() < 1e-4);
        assert!((f.slot(3, 4, 7.9, c) - Vec3::new(50.0, 56.0, 12.0)).length() < 1e-4);
        // Ring: every slot on the circle, all distinct, ordered along the axis (y).
        let ring: Vec<Vec3> = (0..16).map(|k| f.slot(k, 16, 8.0, c)).collect();
        for (k, s) in ring.iter().enumerate() {
            assert!(((s.truncate() - c).length() - 12.0).abs() < 1e-3 && s.z == 12.0, "{k}: {s}");
            for o in &ring[..k] {
                assert!(o.distance(*s) > 4.0, "slots {o} and {s} too close");
            }
        }
        assert!(ring.windows(2).all(|w| w[0].y <= w[1].y + 1e-3), "ordered along the axis: {ring:?}");
    }

    #[test]
    fn errors_name_the_phase_and_the_key() {
        let cases = [
            ("", "no phase"),
            ("square size=3", "phase 1 `square size=3`: unknown shape `square`"),
            ("line", "phase 1 `line`: a line needs spacing=M"),
            ("line spacing=4; ring radius=x after=3", "phase 2 `ring radius=x after=3`: radius=`x` is not a number"),
            ("line spacing=4 radius=3", "unknown key `radius` for line"),
            ("line spacing=4 altitude=0", "altitude=0: expected metres above the ground in [1, 120]"),
            ("line spacing=4 after=2", "the first phase starts at 0"),
            ("line spacing=4; ring radius=5 after=0", "expected a start later than the previous phase's (0 s)"),
            ("ring radius=5 centre=1", "centre=`1`: expected two numbers"),
            ("line spacing=4 heading", "expected `key=value`, found `heading`"),
        ];
        for (text, expected) in cases {
            let e = Formation::parse(text).unwrap_err().to_string();
            assert!(e.contains(expected), "{text}: {e}");
        }
    }

    #[test]
    fn drones_take_off_then_fly_the_line_then_the_ring_without_coming_close() {
        let f = Formation::parse(LINE_TO_RING).unwrap();
        let (n, c, dt) = (16usize, Vec2::new(100.0, 100.0), 0.1f32);
        let mut drones: Vec<DroneEgo> = (0..n)
            .map(|k| {
                let p = f.slot(k, n, 0.0, c);
                DroneEgo::new(DroneParams::default(), Vec3::new(p.x, p.y, 0.0), 0.3).unwrap()
            })
            .collect();
        let min_gap = 2.0 * DroneParams::default().clearance_half_m().x;
        for tick in 0..300u32 {
            let t = tick as f32 * dt;
            for (k, d) in drones.iter_mut().enumerate() {
                let cmd = slot_command(d, f.slot(k, n, t, c), 0.3);
                assert_eq!(d.step(&cmd, dt, &Surroundings::default()).unwrap(), None);
            }
            for (k, d) in drones.iter().enumerate() {
                for o in &drones[..k] {
                    let gap = d.position_m().distance(o.position_m());
                    assert!(gap > min_gap + 0.5, "tick {tick}: agents {k} too close ({gap} m)");
                }
            }
            if tick == 79 {
                for (k, d) in drones.iter().enumerate() {
                    let slot = f.slot(k, n, t, c);
                    assert!(d.position_m().distance(slot) < 0.3, "line slot of {k} at 8 s: {}", d.position_m());
                }
            }
        }
        for (k, d) in drones.iter().enumerate() {
            let slot = f.slot(k, n, 30.0, c);
            assert!(d.position_m().distance(slot) < 0.2, "ring slot of {k}: {} vs {slot}", d.position_m());
            assert!((d.yaw_rad() - 0.3).abs() < 1e-3);
        }
    }
}
