//! The main job's drive (graphs/drive.yml) keeps the car on the road: the sensors node's `SCRIPT` is read
//! from the graph file itself and driven through the car ego of the scenario the graph's director builds
//! (`SCENARIO`, `DT_SECS` of the director node). Steering convention: positive `steer` turns right (CARLA),
//! so the script's `steer=0.5` segment takes the northbound car right, into the eastbound lane of the first
//! cross street. The spawn is inside the town, the whole body (its four corners on the ground) stays on the
//! road at every tick, and the Director never clamps it at the town's boundary.

use std::path::Path;

use worldflow_world::{Director as _, Ego, ProceduralDirector, Scenario};

/// The `env` of node `id` of a dataflow graph.
fn node_env(graph: &serde_yaml::Value, id: &str) -> serde_yaml::Mapping {
    let nodes = graph["nodes"].as_sequence().expect("graph has a nodes list");
    let node = nodes.iter().find(|n| n["id"].as_str() == Some(id)).unwrap_or_else(|| panic!("no node {id}"));
    node["env"].as_mapping().cloned().unwrap_or_default()
}

fn setting<'a>(env: &'a serde_yaml::Mapping, name: &str) -> Option<&'a serde_yaml::Value> {
    env.get(serde_yaml::Value::from(name))
}

fn as_f32(v: &serde_yaml::Value) -> f32 {
    v.as_f64().map(|x| x as f32).or_else(|| v.as_str().and_then(|s| s.parse().ok())).expect("a number")
}

#[test]
fn the_main_jobs_drive_script_stays_on_the_road() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../graphs/drive.yml");
    let graph: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let sensors = node_env(&graph, "sensors");
    let director = node_env(&graph, "director");
    let script = setting(&sensors, "SCRIPT").and_then(|v| v.as_str()).expect("sensors SCRIPT");
    let controls = worldflow_protocol::parse_drive_script(script).unwrap();
    assert!(controls.iter().any(|c| c.steer != 0.0), "the script steers");
    let scenario = Scenario::from_setting(setting(&director, "SCENARIO").and_then(|v| v.as_str())).unwrap();
    let dt_secs = setting(&director, "DT_SECS").map_or(0.1, as_f32);

    let mut world = ProceduralDirector::new(&scenario).unwrap();
    let town = world.town().clone();
    // The spawn is inside the town (not on its outer ring road), so no camera starts facing the edge.
    let spawn = glam::Vec2::new(scenario.egos[0].x_m, scenario.egos[0].y_m);
    let margin = glam::Vec2::splat(town.road_width_m);
    let (lo, hi) = (town.node_m(0, 0) + margin, town.node_m(town.blocks.0, town.blocks.1) - margin);
    assert!(spawn.cmpgt(lo).all() && spawn.cmplt(hi).all(), "spawn {spawn} is on the outer ring road");
    let mut ego = Ego::from_spawn(&scenario.egos[0]).unwrap();
    let Ego::Car(car) = &mut ego else { panic!("the builtin scenario's ego is a car") };
    let start_yaw = car.yaw_rad();
    let mut min_yaw_change = 0.0f32;
    let half_extent_m = car.state(0).half_extent_m;
    for (tick, c) in controls.iter().enumerate() {
        let pose = car.step(c, dt_secs).unwrap();
        world.step(dt_secs, &[car.state(0)]).unwrap();
        assert_eq!(world.warnings(), &[], "tick {tick}: the Director clamped the car at the town's boundary");
        for (sx, sy) in [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
            let corner = pose.transform_point3(glam::Vec3::new(sx * half_extent_m[0], sy * half_extent_m[1], 0.0));
            assert!(
                town.on_road(corner.truncate()),
                "tick {tick} ({c:?}): the car's corner {corner} is off the road (centre {})",
                pose.w_axis
            );
        }
        let dyaw =
            (car.yaw_rad() - start_yaw + std::f32::consts::PI).rem_euclid(std::f32::consts::TAU) - std::f32::consts::PI;
        min_yaw_change = min_yaw_change.min(dyaw);
    }
    // The steer=0.5 segment is a right turn of about a quarter circle (northbound → eastbound), and the car
    // ends on the road, heading east.
    assert!(min_yaw_change < -1.2, "turned right by {} rad", -min_yaw_change);
    let end = car.world_from_base();
    assert!(town.on_road(end.w_axis.truncate().truncate()), "ends at {}", end.w_axis);
    assert!(end.x_axis.x > 0.95, "ends heading {}", end.x_axis);
}
