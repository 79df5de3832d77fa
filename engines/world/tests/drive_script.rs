//! The main job's drive (graphs/drive.yml) keeps the car on the road: the sensors node's `SCRIPT` is read
//! from the graph file itself and driven through the car ego of the scenario the graph's director builds
//! (`SCENARIO`, `DT_SECS` of the director node). Steering convention: positive `steer` turns right (CARLA),
//! so the script's `steer=0.5` segment takes the northbound car right, into the eastbound lane of the first
//! cross street; with the opposite sign it turned left, off the west edge of the town. The turn begins a
//! few metres early, so the car's centre cuts the kerb corner (by about 0.7 m, see [`KERB_CUT_M`]).

use std::path::Path;

use worldflow_world::{Ego, ProceduralDirector, Scenario, VehicleControl};

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

/// The sensors node's drive-script grammar (nodes/sensors/src/script.rs): `;`-separated segments of
/// `throttle=… steer=… brake=…` and a repeat `xN`; unset controls are 0.
fn parse_script(text: &str) -> Vec<VehicleControl> {
    let mut ticks = Vec::new();
    for seg in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let mut c = VehicleControl::default();
        let mut count = 0;
        for word in seg.split_whitespace() {
            if let Some(n) = word.strip_prefix('x') {
                count = n.parse().expect("repeat count");
                continue;
            }
            let (k, v) = word.split_once('=').expect("name=value");
            let v: f32 = v.parse().expect("a number");
            match k {
                "throttle" => c.throttle = v,
                "steer" => c.steer = v,
                "brake" => c.brake = v,
                other => panic!("unknown control {other}"),
            }
        }
        c.validate().unwrap();
        ticks.extend(std::iter::repeat_n(c, count));
    }
    ticks
}

#[test]
fn the_main_jobs_drive_script_stays_on_the_road() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../graphs/drive.yml");
    let graph: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let sensors = node_env(&graph, "sensors");
    let director = node_env(&graph, "director");
    let script = setting(&sensors, "SCRIPT").and_then(|v| v.as_str()).expect("sensors SCRIPT");
    let controls = parse_script(script);
    assert!(controls.iter().any(|c| c.steer != 0.0), "the script steers");
    let scenario = Scenario::from_setting(setting(&director, "SCENARIO").and_then(|v| v.as_str())).unwrap();
    let dt_secs = setting(&director, "DT_SECS").map_or(0.1, as_f32);

    let world = ProceduralDirector::new(&scenario).unwrap();
    let town = world.town();
    let mut ego = Ego::from_spawn(&scenario.egos[0]).unwrap();
    let Ego::Car(car) = &mut ego else { panic!("the builtin scenario's ego is a car") };
    let start_yaw = car.yaw_rad();
    let mut min_yaw_change = 0.0f32;
    let mut max_off_m = 0.0f32;
    for (tick, c) in controls.iter().enumerate() {
        let pose = car.step(c, dt_secs).unwrap();
        // The base: the centre of the car's body on the ground.
        let centre = pose.w_axis.truncate().truncate();
        let off_m = metres_off_road(town, centre);
        assert!(
            off_m <= KERB_CUT_M,
            "tick {tick} ({c:?}): the car's centre {centre} is {off_m} m or more off the road"
        );
        max_off_m = max_off_m.max(off_m);
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
    println!("drive.yml: the car's centre came at most {max_off_m} m off the road");
}

/// The script's right turn starts a few metres before the cross street, so the car's centre cuts the kerb
/// corner by about 0.7 m for three ticks; more than this is leaving the road, not cutting a corner.
const KERB_CUT_M: f32 = 1.0;

/// How far a ground point is off the road, metres, in steps of 0.25 m (0 on the road; `KERB_CUT_M` + 0.25
/// when farther than `KERB_CUT_M`): the smallest radius at which one of 32 points around it is on the road.
fn metres_off_road(town: &worldflow_world::Town, p: glam::Vec2) -> f32 {
    if town.on_road(p) {
        return 0.0;
    }
    let steps = (KERB_CUT_M / 0.25) as u32;
    (1..=steps)
        .map(|k| k as f32 * 0.25)
        .find(|&r| {
            (0..32).any(|i| town.on_road(p + glam::Vec2::from_angle(i as f32 * std::f32::consts::TAU / 32.0) * r))
        })
        .unwrap_or(KERB_CUT_M + 0.25)
}
