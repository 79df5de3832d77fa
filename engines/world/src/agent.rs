//! [`Ego`]: an ego agent of any kind (car, free camera, drone) as the Director's caller holds it, built from
//! its scenario spawn: its pose, its state for the Director, its body box, and what happens at the world's
//! boundary ([`crate::bounds`]: clamped and stopped).

use glam::{Mat4, Vec3};

use crate::bounds::WorldBounds;
use crate::drone::{DroneEgo, DroneParams};
use crate::ego::{BicycleEgo, BicycleParams, EgoError, EgoState, FreeCameraEgo};
use crate::scenario::{EgoKind, EgoSpawn};

/// An ego agent of any kind, built from its scenario spawn.
#[derive(Debug, Clone, PartialEq)]
pub enum Ego {
    Car(BicycleEgo),
    FreeCamera(FreeCameraEgo),
    Drone(DroneEgo),
}

impl Ego {
    /// A car at rest with default [`BicycleParams`], a free camera, or a drone with default [`DroneParams`]
    /// (landed when `z_m` is 0), at the spawn pose.
    pub fn from_spawn(spawn: &EgoSpawn) -> Result<Self, EgoError> {
        let yaw = spawn.yaw_deg.to_radians();
        Ok(match spawn.kind {
            EgoKind::Car => Ego::Car(BicycleEgo::new(BicycleParams::default(), spawn.x_m, spawn.y_m, yaw)?),
            EgoKind::FreeCamera => {
                Ego::FreeCamera(FreeCameraEgo::new(Vec3::new(spawn.x_m, spawn.y_m, spawn.z_m), yaw)?)
            }
            EgoKind::Drone => {
                Ego::Drone(DroneEgo::new(DroneParams::default(), Vec3::new(spawn.x_m, spawn.y_m, spawn.z_m), yaw)?)
            }
        })
    }

    pub fn world_from_base(&self) -> Mat4 {
        match self {
            Ego::Car(c) => c.world_from_base(),
            Ego::FreeCamera(f) => f.world_from_base(),
            Ego::Drone(d) => d.world_from_base(),
        }
    }

    pub fn state(&self, index: u32) -> EgoState {
        match self {
            Ego::Car(c) => c.state(index),
            Ego::FreeCamera(f) => f.state(index),
            Ego::Drone(d) => d.state(index),
        }
    }

    /// The box of the ego's body (`world_from_body` at the box centre, half extents), which other agents see
    /// and run into; a free camera has none.
    pub fn body_box(&self) -> Option<(Mat4, Vec3)> {
        let half = match self {
            Ego::Car(c) => Vec3::from(c.params().half_extent_m),
            Ego::Drone(d) => Vec3::from(d.params().half_extent_m),
            Ego::FreeCamera(_) => return None,
        };
        Some((self.world_from_base() * Mat4::from_translation(Vec3::Z * half.z), half))
    }
}

impl Ego {
    /// Clamps the ego into `bounds` and stops it (see the module header); returns (requested, clamped)
    /// base positions when it was outside.
    pub fn keep_inside(&mut self, bounds: &WorldBounds) -> Option<(Vec3, Vec3)> {
        let pose = self.world_from_base();
        let clamped = bounds.clamp_pose(&pose)?;
        let (from, to) = (pose.w_axis.truncate(), clamped.w_axis.truncate());
        match self {
            Ego::Car(car) => car.place_base(to.truncate()),
            Ego::FreeCamera(cam) => cam.place(to),
            Ego::Drone(drone) => drone.place(to),
        }
        Some((from, to))
    }
}
