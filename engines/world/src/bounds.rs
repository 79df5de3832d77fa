//! The world extent and what happens at it.
//!
//! The world is the town's ground rectangle `[0, extent_x] × [0, extent_y]` (metres, world frame) from the
//! ground up to [`MAX_ALTITUDE_M`]. **Rule:** an ego (or a pose given for one) that leaves it is *clamped at
//! the boundary and stopped*: its base position is projected onto the extent (orientation kept), a car's
//! speed becomes 0, and one [`BoundaryWarning`] names the agent and the tick when it crosses out (none more
//! while it stays pressed against the boundary; a new one after it has come back inside). Nothing panics and
//! the run goes on: leaving the map is a user's mistake, not a fault of the world.

use glam::{Mat4, Vec3};

/// Highest base altitude an ego may fly at, metres.
pub const MAX_ALTITUDE_M: f32 = 1000.0;

/// The box egos must stay in (world frame, metres).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorldBounds {
    pub min_m: Vec3,
    pub max_m: Vec3,
}

impl WorldBounds {
    /// The ground rectangle of a town of horizontal extent `(x, y)`, up to [`MAX_ALTITUDE_M`].
    pub fn of_extent(extent_m: (f32, f32)) -> Self {
        Self { min_m: Vec3::ZERO, max_m: Vec3::new(extent_m.0, extent_m.1, MAX_ALTITUDE_M) }
    }

    pub fn contains(&self, p: Vec3) -> bool {
        p.cmpge(self.min_m).all() && p.cmple(self.max_m).all()
    }

    pub fn clamp(&self, p: Vec3) -> Vec3 {
        p.clamp(self.min_m, self.max_m)
    }

    /// `world_from_base` with its translation clamped; `None` when it was inside already.
    pub fn clamp_pose(&self, world_from_base: &Mat4) -> Option<Mat4> {
        let p = world_from_base.w_axis.truncate();
        if self.contains(p) {
            return None;
        }
        let mut m = *world_from_base;
        m.w_axis = self.clamp(p).extend(1.0);
        Some(m)
    }
}

/// An ego crossed the world boundary and was clamped.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundaryWarning {
    /// Index of the ego in the scenario (`agent{index}` in graphs).
    pub ego_index: u32,
    pub name: String,
    pub tick: u64,
    /// Where the ego tried to go and where it was stopped, world frame, metres.
    pub requested_m: Vec3,
    pub clamped_m: Vec3,
}

impl std::fmt::Display for BoundaryWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = |v: Vec3| format!("({:.2}, {:.2}, {:.2})", v.x, v.y, v.z);
        write!(
            f,
            "agent{} ({}) left the world at tick {}: {} is outside the town, clamped to {} and stopped",
            self.ego_index,
            self.name,
            self.tick,
            p(self.requested_m),
            p(self.clamped_m)
        )
    }
}

/// Remembers which egos are outside, so that each excursion gives one warning.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoundaryGuard {
    outside: Vec<bool>,
}

impl BoundaryGuard {
    /// Records whether ego `index` was clamped this tick; returns the warning when it has just left.
    pub fn note(&mut self, index: u32, name: &str, tick: u64, clamp: Option<(Vec3, Vec3)>) -> Option<BoundaryWarning> {
        let i = index as usize;
        if self.outside.len() <= i {
            self.outside.resize(i + 1, false);
        }
        let was_outside = std::mem::replace(&mut self.outside[i], clamp.is_some());
        let (requested_m, clamped_m) = clamp?;
        (!was_outside).then(|| BoundaryWarning {
            ego_index: index,
            name: name.to_owned(),
            tick,
            requested_m,
            clamped_m,
        })
    }
}
