//! Scenario files: what town to build, how much traffic, where the ego agents start.
//!
//! ```yaml
//! seed: 7
//! cell_size_m: 1.0
//! vehicles: 24
//! town: { blocks_x: 4, blocks_y: 4, block_size_m: 32.0, road_width_m: 7.0 }
//! egos:
//!   - { name: ego0, kind: car, x_m: 3.5, y_m: 20.0, yaw_deg: 90.0 }
//! ```
//! Every struct is `deny_unknown_fields`; every field has a default except the ego's name and position.
//! This module parses and range-checks: [`Scenario::validate`] checks ranges without building the town.
//! Checks that need the town (a spawn inside a building, more vehicles than lanes hold) live in
//! `scenario_checks` and are made by [`crate::ProceduralDirector::new`] and by [`Scenario::from_file`], which
//! names the file in every error. All errors name the field (`town.block_size_m`, `egos[1].x_m`, …) and never
//! panic.

use serde::{Deserialize, Serialize};

use crate::grid::{GridError, MAX_CELLS};
use crate::rig::{Rig, RigCamera, RigError, RigPreset};
use glam::Vec3;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScenarioError {
    #[error("{path}: cannot read: {message}")]
    Io { path: String, message: String },
    #[error("{path}:{line}:{column}: {message}")]
    Parse { path: String, line: usize, column: usize, message: String },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The grid a field asks for is not a valid grid.
    #[error("{field}: {source}")]
    Grid {
        field: String,
        #[source]
        source: GridError,
    },
    /// An `Invalid` error found in a file.
    #[error("{path}: {error}")]
    InFile { path: String, error: Box<ScenarioError> },
}

impl ScenarioError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.into(), message: message.into() }
    }

    /// The offending field, for `Invalid` errors.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } | Self::Grid { field, .. } => Some(field),
            Self::InFile { error, .. } => error.field(),
            _ => None,
        }
    }

    /// Names the file an error was found in (parse and I/O errors name it already).
    pub(crate) fn in_file(self, path: &str) -> Self {
        match self {
            Self::Invalid { .. } | Self::Grid { .. } => Self::InFile { path: path.to_owned(), error: Box::new(self) },
            other => other,
        }
    }
}

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Seed of everything random (layout, traffic, appearance).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Edge of a voxel, metres.
    #[serde(default = "default_cell_size")]
    pub cell_size_m: f32,
    /// Number of background vehicles.
    #[serde(default = "default_vehicles")]
    pub vehicles: u32,
    /// Number of pedestrians walking the sidewalks (0 = none).
    #[serde(default = "default_pedestrians")]
    pub pedestrians: u32,
    #[serde(default)]
    pub town: TownConfig,
    #[serde(default)]
    pub traffic: TrafficConfig,
    /// Ego agents (the ones driven by actions); their cameras see the world.
    #[serde(default)]
    pub egos: Vec<EgoSpawn>,
}

fn default_seed() -> u64 {
    7
}
fn default_cell_size() -> f32 {
    1.0
}
fn default_vehicles() -> u32 {
    24
}
fn default_pedestrians() -> u32 {
    12
}

/// The road grid. Roads run along every block boundary (an outer ring included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TownConfig {
    pub blocks_x: u32,
    pub blocks_y: u32,
    /// Side of a (square) block between roads, sidewalk included, metres.
    pub block_size_m: f32,
    /// Full road width (two lanes, one per direction), metres.
    pub road_width_m: f32,
    pub sidewalk_width_m: f32,
    pub min_building_height_m: f32,
    pub max_building_height_m: f32,
    /// Fraction of lots that are parks (grass + trees) instead of buildings, in [0, 1].
    pub park_fraction: f32,
    /// Spacing of street trees along sidewalks, metres (0 = none).
    pub street_tree_spacing_m: f32,
}

impl Default for TownConfig {
    fn default() -> Self {
        Self {
            blocks_x: 4,
            blocks_y: 4,
            block_size_m: 32.0,
            road_width_m: 7.0,
            sidewalk_width_m: 3.0,
            min_building_height_m: 6.0,
            max_building_height_m: 36.0,
            park_fraction: 0.2,
            street_tree_spacing_m: 12.0,
        }
    }
}

/// Car-following (IDM) and ego-reaction parameters of background traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrafficConfig {
    pub desired_speed_mps: f32,
    pub turn_speed_mps: f32,
    pub time_headway_secs: f32,
    pub min_gap_m: f32,
    pub max_accel_mps2: f32,
    pub comfortable_decel_mps2: f32,
    /// Vehicles look this far ahead in their lane for egos (and stop behind them), metres.
    pub ego_lookahead_m: f32,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        Self {
            desired_speed_mps: 10.0,
            turn_speed_mps: 4.0,
            time_headway_secs: 1.2,
            min_gap_m: 2.0,
            max_accel_mps2: 1.5,
            comfortable_decel_mps2: 2.5,
            ego_lookahead_m: 40.0,
        }
    }
}

/// How an ego agent moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EgoKind {
    /// Kinematic bicycle driven by throttle/steer/brake; must start on a road.
    Car,
    /// Free-flying camera base driven by pose deltas.
    FreeCamera,
    /// Quadrotor driven by velocity set-points (`cmd_vel`); `z_m` 0 starts it landed, else it starts
    /// hovering (at least 1 m up). See `worldflow_world::DroneEgo`.
    Drone,
}

/// Where an ego agent starts. The base frame is x forward, y left, z up; `z_m` is its height above the ground.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgoSpawn {
    pub name: String,
    #[serde(default = "default_ego_kind")]
    pub kind: EgoKind,
    pub x_m: f32,
    pub y_m: f32,
    #[serde(default)]
    pub z_m: f32,
    /// Heading, degrees counter-clockwise from world +x.
    #[serde(default)]
    pub yaw_deg: f32,
    /// The cameras this agent carries, by preset (`ego4`, `front`, `drone`; sized by the renderer). Default: `drone`
    /// for drones, `ego4` otherwise. A renderer with `RIG=scenario` draws each agent with its own rig.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rig: Option<RigPreset>,
    /// Or the cameras themselves, each with its own mount, size and FOV (the fields of a rig file's `cameras`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cameras: Option<Vec<RigCamera>>,
}

impl EgoSpawn {
    /// An ego of `kind` at (`x_m`, `y_m`, `z_m`) heading `yaw_deg`, with its kind's default rig.
    pub fn new(name: impl Into<String>, kind: EgoKind, x_m: f32, y_m: f32, z_m: f32, yaw_deg: f32) -> Self {
        Self { name: name.into(), kind, x_m, y_m, z_m, yaw_deg, rig: None, cameras: None }
    }

    /// This agent's rig: its own `cameras`, else its `rig` preset (or its kind's default) with cameras of
    /// `width × height` and `fov_x_deg`.
    pub fn rig(&self, width: u32, height: u32, fov_x_deg: f32) -> Rig {
        if let Some(cameras) = &self.cameras {
            return Rig { cameras: cameras.clone() };
        }
        let default = if self.kind == EgoKind::Drone { RigPreset::Drone } else { RigPreset::Ego4 };
        let drone_body = Vec3::from(crate::DroneParams::default().half_extent_m);
        Rig::preset(self.rig.unwrap_or(default), width, height, fov_x_deg, drone_body)
    }
}

fn default_ego_kind() -> EgoKind {
    EgoKind::Car
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            seed: default_seed(),
            cell_size_m: default_cell_size(),
            vehicles: default_vehicles(),
            pedestrians: default_pedestrians(),
            town: TownConfig::default(),
            traffic: TrafficConfig::default(),
            // Inside the town: on the second north–south road (centre x = 3.5 + 39 m), northbound lane (right of
            // centre), so every camera sees streets and buildings, not the town's edge.
            egos: vec![EgoSpawn::new("ego0", EgoKind::Car, 42.5 + 1.75, 20.0, 0.0, 90.0)],
        }
    }
}

fn check_range(field: &str, v: f32, lo: f32, hi: f32, what: &str) -> Result<(), ScenarioError> {
    if !(v.is_finite() && v >= lo && v <= hi) {
        return Err(ScenarioError::invalid(field, format!("expected {what} in [{lo}, {hi}], found {v}")));
    }
    Ok(())
}

impl Scenario {
    /// Parses YAML (JSON is YAML too) and validates; `path` names the source in errors.
    pub fn from_yaml_str(text: &str, path: &str) -> Result<Self, ScenarioError> {
        let s: Scenario = serde_yaml::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            ScenarioError::Parse { path: path.to_owned(), line, column, message: e.to_string() }
        })?;
        s.validate()?;
        Ok(s)
    }

    /// Parses JSON and validates; `path` names the source in errors.
    pub fn from_json_str(text: &str, path: &str) -> Result<Self, ScenarioError> {
        let s: Scenario = serde_json::from_str(text).map_err(|e| ScenarioError::Parse {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        s.validate()?;
        Ok(s)
    }

    /// Town pitch (block + road), metres.
    pub fn pitch_m(&self) -> f32 {
        self.town.block_size_m + self.town.road_width_m
    }

    /// Horizontal extent of the town (x, y), metres; the town spans `[0, extent]` on each axis.
    pub fn extent_m(&self) -> (f32, f32) {
        let t = &self.town;
        (t.blocks_x as f32 * self.pitch_m() + t.road_width_m, t.blocks_y as f32 * self.pitch_m() + t.road_width_m)
    }

    /// Range checks that do not need the town to be built.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        check_range("cell_size_m", self.cell_size_m, 0.1, 4.0, "a cell size in metres")?;
        let t = &self.town;
        for (field, v) in [("town.blocks_x", t.blocks_x), ("town.blocks_y", t.blocks_y)] {
            if !(1..=64).contains(&v) {
                return Err(ScenarioError::invalid(field, format!("expected 1..=64 blocks, found {v}")));
            }
        }
        let cs = self.cell_size_m;
        check_range("town.road_width_m", t.road_width_m, (3.0 * cs).max(4.0), 40.0, "a road width in metres")?;
        check_range("town.sidewalk_width_m", t.sidewalk_width_m, 0.0, 10.0, "a sidewalk width in metres")?;
        let min_block = 2.0 * t.sidewalk_width_m + 4.0 * cs;
        check_range("town.block_size_m", t.block_size_m, min_block, 500.0, "a block size (≥ 2 sidewalks + 4 cells)")?;
        check_range("town.min_building_height_m", t.min_building_height_m, cs, 300.0, "a height in metres")?;
        check_range(
            "town.max_building_height_m",
            t.max_building_height_m,
            t.min_building_height_m,
            300.0,
            "a height ≥ town.min_building_height_m",
        )?;
        check_range("town.park_fraction", t.park_fraction, 0.0, 1.0, "a fraction")?;
        check_range("town.street_tree_spacing_m", t.street_tree_spacing_m, 0.0, 1000.0, "a spacing in metres")?;
        if t.street_tree_spacing_m > 0.0 && t.street_tree_spacing_m < 2.0 * cs {
            return Err(ScenarioError::invalid(
                "town.street_tree_spacing_m",
                format!(
                    "expected 0 (no trees) or at least two cells ({} m), found {}",
                    2.0 * cs,
                    t.street_tree_spacing_m
                ),
            ));
        }
        let (ex, ey) = self.extent_m();
        let nz = (t.max_building_height_m / cs).ceil() as u64 + 4;
        let cells = (ex / cs).ceil() as u64 * (ey / cs).ceil() as u64 * nz;
        if cells > MAX_CELLS {
            return Err(ScenarioError::invalid(
                "cell_size_m",
                format!("the town ({ex} × {ey} m, {nz} layers) would need {cells} cells, more than {MAX_CELLS}: use larger cells or fewer blocks"),
            ));
        }
        let tr = &self.traffic;
        check_range("traffic.desired_speed_mps", tr.desired_speed_mps, 0.1, 40.0, "a speed in m/s")?;
        check_range(
            "traffic.turn_speed_mps",
            tr.turn_speed_mps,
            0.1,
            tr.desired_speed_mps,
            "a speed ≤ desired_speed_mps",
        )?;
        check_range("traffic.time_headway_secs", tr.time_headway_secs, 0.1, 10.0, "a time in seconds")?;
        check_range("traffic.min_gap_m", tr.min_gap_m, 0.5, 20.0, "a distance in metres")?;
        check_range("traffic.max_accel_mps2", tr.max_accel_mps2, 0.1, 10.0, "an acceleration in m/s²")?;
        check_range("traffic.comfortable_decel_mps2", tr.comfortable_decel_mps2, 0.1, 10.0, "a deceleration in m/s²")?;
        check_range("traffic.ego_lookahead_m", tr.ego_lookahead_m, 0.0, 500.0, "a distance in metres")?;
        if self.vehicles > 10_000 {
            return Err(ScenarioError::invalid("vehicles", format!("expected at most 10000, found {}", self.vehicles)));
        }
        if self.pedestrians > 10_000 {
            return Err(ScenarioError::invalid(
                "pedestrians",
                format!("expected at most 10000, found {}", self.pedestrians),
            ));
        }
        if self.egos.len() > 64 {
            return Err(ScenarioError::invalid("egos", format!("expected at most 64 egos, found {}", self.egos.len())));
        }
        for (i, e) in self.egos.iter().enumerate() {
            if e.name.trim().is_empty() {
                return Err(ScenarioError::invalid(format!("egos[{i}].name"), "expected a non-empty name"));
            }
            if self.egos[..i].iter().any(|o| o.name == e.name) {
                return Err(ScenarioError::invalid(
                    format!("egos[{i}].name"),
                    format!("duplicate ego name {:?}", e.name),
                ));
            }
            check_range(&format!("egos[{i}].x_m"), e.x_m, 0.0, ex, "a position on the map (metres)")
                .map_err(|_| off_map(i, "x_m", e.x_m, ex))?;
            check_range(&format!("egos[{i}].y_m"), e.y_m, 0.0, ey, "a position on the map (metres)")
                .map_err(|_| off_map(i, "y_m", e.y_m, ey))?;
            let max_z = if e.kind == EgoKind::Car { 0.0 } else { 1000.0 };
            check_range(&format!("egos[{i}].z_m"), e.z_m, 0.0, max_z, "a height above ground (0 for cars)")?;
            check_range(&format!("egos[{i}].yaw_deg"), e.yaw_deg, -360.0, 360.0, "an angle in degrees")?;
            if let Some(cameras) = &e.cameras {
                if e.rig.is_some() {
                    return Err(ScenarioError::invalid(
                        format!("egos[{i}].cameras"),
                        "expected either `rig` (a preset) or `cameras`, not both",
                    ));
                }
                Rig { cameras: cameras.clone() }.validate().map_err(|err| match err {
                    RigError::Invalid { field, message } => {
                        ScenarioError::invalid(format!("egos[{i}].{field}"), message)
                    }
                    other => ScenarioError::invalid(format!("egos[{i}].cameras"), other.to_string()),
                })?;
            }
        }
        Ok(())
    }
}

fn off_map(i: usize, name: &str, v: f32, extent: f32) -> ScenarioError {
    ScenarioError::invalid(
        format!("egos[{i}].{name}"),
        format!("{v} m is off the map (the town spans 0 to {extent} m on this axis)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scenario_is_valid_and_round_trips_through_yaml() {
        let s = Scenario::default();
        s.validate().unwrap();
        let text = serde_yaml::to_string(&s).unwrap();
        assert_eq!(Scenario::from_yaml_str(&text, "x.yaml").unwrap(), s);
    }

    #[test]
    fn unknown_field_is_named_with_its_line() {
        let err = Scenario::from_yaml_str("seed: 1\ntown:\n  blocks_z: 3\n", "s.yaml").unwrap_err().to_string();
        assert!(err.starts_with("s.yaml:3:"), "{err}");
        assert!(err.contains("blocks_z"), "{err}");
    }

    #[test]
    fn out_of_range_fields_are_named() {
        let cases = [
            ("cell_size_m: 0", "cell_size_m"),
            ("cell_size_m: .nan", "cell_size_m"),
            ("town: {blocks_x: 0}", "town.blocks_x"),
            ("town: {block_size_m: 3}", "town.block_size_m"),
            ("town: {min_building_height_m: 50, max_building_height_m: 20}", "town.max_building_height_m"),
            ("traffic: {turn_speed_mps: 99}", "traffic.turn_speed_mps"),
            ("vehicles: 20000", "vehicles"),
            ("egos: [{name: a, x_m: -5, y_m: 3}]", "egos[0].x_m"),
            ("egos: [{name: a, x_m: 5, y_m: 3}, {name: b, x_m: 5, y_m: 9999}]", "egos[1].y_m"),
            ("egos: [{name: a, x_m: 5, y_m: 3}, {name: a, x_m: 5, y_m: 9}]", "egos[1].name"),
            ("egos: [{name: a, x_m: 5, y_m: 3, z_m: 2}]", "egos[0].z_m"),
            ("cell_size_m: 0.1\ntown: {blocks_x: 64, blocks_y: 64}", "cell_size_m"),
            ("egos: [{name: a, x_m: 5, y_m: 3, rig: front, cameras: []}]", "egos[0].cameras"),
            ("egos: [{name: a, x_m: 5, y_m: 3, cameras: []}]", "egos[0].cameras"),
            (
                "egos: [{name: a, x_m: 5, y_m: 3, cameras: [{name: c, position_m: [0, 0, 1], width: 64, height: 48, fov_x_deg: 200}]}]",
                "egos[0].cameras[0].fov_x_deg",
            ),
        ];
        for (text, field) in cases {
            let err = Scenario::from_yaml_str(text, "s.yaml").unwrap_err();
            assert_eq!(err.field(), Some(field), "{text}: {err}");
            assert!(err.to_string().starts_with(field), "{err}");
        }
    }

    #[test]
    fn each_ego_has_its_own_rig() {
        let text = "egos:\n  - {name: car, x_m: 44.25, y_m: 20}\n  - {name: d, kind: drone, x_m: 44.25, y_m: 30}\n  \
                    - {name: f, kind: drone, x_m: 44.25, y_m: 40, rig: front}\n  \
                    - {name: c, kind: free_camera, x_m: 44.25, y_m: 50, z_m: 3, cameras: [{name: up, position_m: [0, 0, 0], pitch_deg: 60, width: 32, height: 24, fov_x_deg: 60}]}\n";
        let s = Scenario::from_yaml_str(text, "s.yaml").unwrap();
        let rigs: Vec<Rig> = s.egos.iter().map(|e| e.rig(160, 120, 90.0)).collect();
        let names = |r: &Rig| r.cameras.iter().map(|c| c.name.clone()).collect::<Vec<_>>().join(",");
        assert_eq!(names(&rigs[0]), "front,left,rear,right", "cars default to the 4-camera rig");
        assert_eq!(names(&rigs[1]), "front", "drones default to their nose camera");
        assert_eq!(rigs[1].cameras[0].pitch_deg, crate::rig::DRONE_CAMERA_PITCH_DEG);
        assert_eq!((rigs[2].cameras.len(), rigs[2].cameras[0].pitch_deg), (1, 0.0), "a preset overrides the kind's");
        let own = &rigs[3].cameras[0];
        assert_eq!((own.name.as_str(), own.width, own.height, own.fov_x_deg), ("up", 32, 24, 60.0), "own sizes kept");
        assert_eq!(Scenario::from_yaml_str(&serde_yaml::to_string(&s).unwrap(), "x").unwrap(), s);
    }

    #[test]
    fn json_is_accepted_and_errors_have_lines() {
        let s = Scenario::from_json_str(r#"{"seed": 3, "vehicles": 2}"#, "s.json").unwrap();
        assert_eq!((s.seed, s.vehicles), (3, 2));
        let err = Scenario::from_json_str("{\"seed\": 3,\n \"vehicle\": 2}", "s.json").unwrap_err().to_string();
        assert!(err.starts_with("s.json:2:") && err.contains("vehicle"), "{err}");
    }
}
