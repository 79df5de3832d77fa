//! Checks of a scenario that need its town, and scenario files (parsed, then checked completely).
//!
//! [`crate::scenario`] parses and checks ranges; here the town is built and the rest is checked: ego spawns
//! (not inside a static cell, a car on a road, car bodies not overlapping, a drone's body clear of the town
//! and of the other bodies, at a valid height), and that the traffic and the
//! pedestrians fit ([`crate::Traffic::spawn`], [`crate::Crowd::spawn`]). [`populate`] is the one sequence
//! both [`crate::ProceduralDirector`] and [`Scenario::from_file`] run.

use std::path::Path;

use glam::{Vec2, Vec3};

use crate::agent::Ego;
use crate::collision::{blocked_at, Surroundings};
use crate::drone::DroneParams;
use crate::ego::BicycleParams;
use crate::footprint::Footprint;
use crate::pedestrians::Crowd;
use crate::scenario::{EgoKind, EgoSpawn, Scenario, ScenarioError};
use crate::town::Town;
use crate::traffic::Traffic;

/// A scenario's town with its traffic and pedestrians placed, after every check that needs the town.
pub(crate) struct Populated {
    pub town: Town,
    pub traffic: Traffic,
    pub crowd: Crowd,
}

/// Builds the town of `scenario` for `seed`, checks the ego spawns and places traffic and pedestrians.
pub(crate) fn populate(scenario: &Scenario, seed: u64) -> Result<Populated, ScenarioError> {
    let town = Town::generate(scenario, seed)?;
    check_ego_spawns(scenario, &town)?;
    let traffic = Traffic::spawn(scenario, &town, seed)?;
    let crowd = Crowd::spawn(scenario, &town, seed)?;
    Ok(Populated { town, traffic, crowd })
}

/// Ego spawns: not inside a static cell, a car on a road, two car bodies not overlapping, a drone at a valid
/// height with its clearance box free of the town and of every earlier ego's body.
fn check_ego_spawns(scenario: &Scenario, town: &Town) -> Result<(), ScenarioError> {
    for (i, e) in scenario.egos.iter().enumerate() {
        if e.kind == EgoKind::Drone {
            check_drone_spawn(scenario, town, i)?;
            continue;
        }
        let field = format!("egos[{i}]");
        let p = Vec3::new(e.x_m, e.y_m, e.z_m + 0.5 * scenario.cell_size_m);
        let class = town.grid.class_at(p);
        if !class.is_empty() {
            return Err(ScenarioError::invalid(
                format!("{field}.x_m/y_m"),
                format!("spawn ({}, {}, {}) is inside a {} cell", e.x_m, e.y_m, e.z_m, class.name()),
            ));
        }
        if e.kind == EgoKind::Car {
            let body = |x: &EgoSpawn| Footprint {
                centre_m: Vec2::new(x.x_m, x.y_m),
                axis: Vec2::from_angle(x.yaw_deg.to_radians()),
                half_m: Vec3::from(BicycleParams::default().half_extent_m).truncate(),
            };
            let me = body(e);
            if let Some(k) =
                (0..i).find(|&k| scenario.egos[k].kind == EgoKind::Car && body(&scenario.egos[k]).overlaps(&me, 0.0))
            {
                return Err(ScenarioError::invalid(
                    format!("{field}.x_m/y_m"),
                    format!(
                        "car ego {:?} at ({}, {}) overlaps car ego egos[{k}] ({:?}): car bodies must not overlap",
                        e.name, e.x_m, e.y_m, scenario.egos[k].name
                    ),
                ));
            }
        }
        if e.kind == EgoKind::Car && !town.on_road(Vec2::new(e.x_m, e.y_m)) {
            let ground = town.grid.class_at(Vec3::new(e.x_m, e.y_m, -0.5 * scenario.cell_size_m));
            return Err(ScenarioError::invalid(
                format!("{field}.x_m/y_m"),
                format!("a car ego must start on a road; ({}, {}) is on {}", e.x_m, e.y_m, ground.name()),
            ));
        }
    }
    Ok(())
}

/// A drone spawn: a valid height (landed at 0 or flying above the floor), clear of static cells and of the
/// bodies of the egos listed before it.
fn check_drone_spawn(scenario: &Scenario, town: &Town, i: usize) -> Result<(), ScenarioError> {
    let field = format!("egos[{i}]");
    let e = &scenario.egos[i];
    let drone = Ego::from_spawn(e).map_err(|err| ScenarioError::invalid(format!("{field}.z_m"), err.to_string()))?;
    let bodies: Vec<crate::RigidBody> = scenario.egos[..i]
        .iter()
        .enumerate()
        .filter_map(|(k, o)| {
            let (world_from_body, half_extent_m) = Ego::from_spawn(o).ok()?.body_box()?;
            Some(crate::RigidBody {
                id: crate::body::EGO_BODY_ID_BASE + k as u64,
                class: crate::SemanticClass::Vehicle,
                world_from_body,
                half_extent_m,
                velocity_mps: Vec3::ZERO,
                angular_velocity_rps: Vec3::ZERO,
                appearance_key: 0.0,
            })
        })
        .collect();
    let half = DroneParams::default().clearance_half_m();
    let centre = drone.world_from_base().w_axis.truncate() + Vec3::Z * half.z;
    let around = Surroundings { grid: Some(&town.grid), bodies: &bodies };
    if let Some(hit) = blocked_at(centre, half, &around) {
        return Err(ScenarioError::invalid(
            format!("{field}.x_m/y_m"),
            format!("drone {:?} at ({}, {}, {}) would touch {hit}", e.name, e.x_m, e.y_m, e.z_m),
        ));
    }
    Ok(())
}

impl Scenario {
    /// The scenario a node setting names: `builtin` (or nothing) for the default town, else a YAML/JSON file
    /// ([`Scenario::from_file`]).
    pub fn from_setting(setting: Option<&str>) -> Result<Self, ScenarioError> {
        match setting {
            None | Some("") | Some("builtin") => Ok(Self::default()),
            Some(path) => Self::from_file(Path::new(path)),
        }
    }

    /// Reads a `.yaml`/`.yml`/`.json` scenario file and checks it completely: ranges, and what needs the town
    /// (an ego spawned inside a building or a car off the road, more vehicles or pedestrians than the town
    /// holds). Every error names the file, then the field (`s.yaml: egos[0].x_m/y_m: …`) or the line.
    pub fn from_file(path: &Path) -> Result<Self, ScenarioError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError::Io { path: shown.clone(), message: e.to_string() })?;
        let scenario = if path.extension().is_some_and(|e| e == "json") {
            Self::from_json_str(&text, &shown)
        } else {
            Self::from_yaml_str(&text, &shown)
        }
        .map_err(|e| e.in_file(&shown))?;
        populate(&scenario, scenario.seed).map_err(|e| e.in_file(&shown))?;
        Ok(scenario)
    }
}
