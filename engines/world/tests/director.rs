//! Director behaviour: determinism, the grid/changes contract, traffic reacting to egos, scenario errors.

use glam::{Mat4, Quat, Vec3};
use worldflow_world::FlowSampler;
use worldflow_world::{
    Director, DirectorOutput, EgoKind, EgoSpawn, EgoState, ProceduralDirector, Scenario, SemanticClass, SemanticGrid,
};

const DT: f32 = 1.0 / 24.0;

fn run(scenario: &Scenario, ticks: usize) -> (ProceduralDirector, Vec<DirectorOutput>) {
    let (mut d, out0) = ProceduralDirector::new_with_output(scenario).unwrap();
    let mut outs = vec![out0];
    for _ in 0..ticks {
        outs.push(d.step(DT, &[]).unwrap());
    }
    (d, outs)
}

#[test]
fn same_seed_gives_identical_grids_bodies_and_flows() {
    let s = Scenario::default();
    let (a, outs_a) = run(&s, 60);
    let (b, outs_b) = run(&s, 60);
    assert_eq!(a.grid(), b.grid());
    assert_eq!(outs_a, outs_b);
    let mut other = s.clone();
    other.seed += 1;
    let (c, outs_c) = run(&other, 5);
    assert_ne!(a.static_grid(), c.static_grid());
    assert_ne!(outs_a[5].bodies, outs_c[5].bodies);
}

#[test]
fn reset_replays_the_same_world() {
    let s = Scenario::default();
    let (mut d, outs) = run(&s, 30);
    let out0 = d.reset(s.seed).unwrap();
    assert_eq!(out0, outs[0]);
    for expected in &outs[1..] {
        assert_eq!(&d.step(DT, &[]).unwrap(), expected);
    }
}

#[test]
fn changes_applied_to_the_previous_grid_give_the_current_grid() {
    let s = Scenario::default();
    let (mut d, out0) = ProceduralDirector::new_with_output(&s).unwrap();
    let mut mirror: SemanticGrid = d.static_grid().clone();
    mirror.apply(&out0.changes).unwrap();
    assert_eq!(&mirror, d.grid());
    let mut moved = 0;
    for _ in 0..48 {
        let out = d.step(DT, &[]).unwrap();
        assert!(out.changes.windows(2).all(|w| w[0].index < w[1].index), "changes ascending");
        assert!(out.bodies.windows(2).all(|w| w[0].id < w[1].id), "bodies ascending");
        moved += out.changes.len();
        mirror.apply(&out.changes).unwrap();
        assert_eq!(&mirror, d.grid());
    }
    assert!(moved > 0, "traffic must move");
    // Vehicles occupy cells; static cells are never overwritten by them.
    let h = d.grid().histogram();
    assert!(h[SemanticClass::Vehicle as usize] > 24 * 4);
    for (i, (now, stat)) in d.grid().classes().iter().zip(d.static_grid().classes()).enumerate() {
        if now != stat {
            assert!(stat.is_empty() && now.is_dynamic(), "cell {i}: {stat:?} became {now:?}");
        }
    }
}

#[test]
fn flow_moves_each_body_exactly_from_its_old_to_its_new_pose() {
    // Sampling the flow at an old body centre gives the velocity that, with the twist, carries it to the new
    // pose; for the body centre itself that is the twist's v_c: check via one fine integration.
    let s = Scenario::default();
    let (mut d, out0) = ProceduralDirector::new_with_output(&s).unwrap();
    let mut prev = out0.bodies;
    for _ in 0..24 {
        let out = d.step(DT, &[]).unwrap();
        for (old, new) in prev.iter().zip(&out.bodies) {
            if old.world_from_body == new.world_from_body {
                // At rest: no flow (the Actor leaves its Gaussians where they are).
                assert!(out
                    .flow
                    .sample_with_jacobian_for(old.world_from_body.w_axis.truncate(), Some(old.id))
                    .is_none());
                continue;
            }
            let mut x = old.world_from_body.w_axis.truncate();
            let n = 64;
            for _ in 0..n {
                let h = DT / n as f32;
                let v1 = out.flow.sample_with_jacobian_for(x, Some(old.id)).unwrap().0;
                let v2 = out.flow.sample_with_jacobian_for(x + 0.5 * h * v1, Some(old.id)).unwrap().0;
                x += h * v2;
            }
            // Exact up to f32 rounding: positions up to 160 m (ulp 1.5e-5 m), 64 sub-steps of additions.
            let err = (x - new.world_from_body.w_axis.truncate()).length();
            assert!(err < 1e-3, "body {}: {err} m", old.id);
        }
        prev = out.bodies;
    }
}

fn ego_state(pose: Mat4) -> EgoState {
    EgoState { index: 0, world_from_base: pose, speed_mps: 0.0, half_extent_m: Vec3::new(2.25, 0.9, 0.75) }
}

#[test]
fn vehicles_stop_behind_an_ego_standing_in_their_lane() {
    // The ego is a car: a body in the world (parked at its spawn until its first state arrives).
    let s = Scenario { vehicles: 1, pedestrians: 0, ..Scenario::default() };
    let (mut with_ego, out0) = ProceduralDirector::new_with_output(&s).unwrap();
    let mut without = with_ego.clone();
    let car = out0.bodies[0];
    let heading = car.world_from_body.x_axis.truncate();
    let start = car.world_from_body.w_axis.truncate();
    // An ego 25 m ahead of the car, in its lane after the next intersection (with room before it, so the car
    // may cross: it never stops inside the box), facing the same way, standing still.
    let ego_pos = Vec3::new(start.x, start.y, 0.0) + heading * 25.0;
    let ego = ego_state(Mat4::from_rotation_translation(Quat::from_rotation_z(heading.y.atan2(heading.x)), ego_pos));
    let mut last = out0.clone();
    for _ in 0..(10.0 / DT) as usize {
        last = with_ego.step(DT, &[ego]).unwrap();
        without.step(DT, &[]).unwrap();
    }
    let car_now = last.bodies[0];
    let p = car_now.world_from_body.w_axis.truncate();
    let gap = (ego_pos - p).dot(heading) - car.half_extent_m.x - 2.25;
    assert!(
        with_ego.traffic().vehicles[0].speed_mps < 0.05,
        "still moving at {}",
        with_ego.traffic().vehicles[0].speed_mps
    );
    assert!(gap > 0.0 && gap < 6.0, "stopped with a gap of {gap} m");
    // Without the ego the same car drives on.
    let free = without.traffic().vehicles[0].clone();
    let p_free = without.traffic().world_from_body(&free).w_axis.truncate();
    assert!(p_free.distance(start) > 30.0, "free car moved only {} m", p_free.distance(start));
}

#[test]
fn impossible_scenarios_are_errors_naming_the_field() {
    let base = Scenario::default();
    let town = ProceduralDirector::new(&base).unwrap().town().clone();
    let b = town.buildings[0];
    let centre = 0.5 * (b.min_m + b.max_m);
    let cases: Vec<(Scenario, &str, &str)> = vec![
        (
            Scenario { egos: vec![EgoSpawn::new("a", EgoKind::Car, centre.x, centre.y, 0.0, 0.0)], ..base.clone() },
            "egos[0].x_m/y_m",
            "inside a building",
        ),
        (
            Scenario {
                egos: vec![EgoSpawn::new("a", EgoKind::FreeCamera, centre.x, centre.y, 2.0, 0.0)],
                ..base.clone()
            },
            "egos[0].x_m/y_m",
            "inside a building",
        ),
        (
            // On a sidewalk corner of the first block: not a road.
            Scenario { egos: vec![EgoSpawn::new("a", EgoKind::Car, 8.0, 8.0, 0.0, 0.0)], ..base.clone() },
            "egos[0].x_m/y_m",
            "must start on a road",
        ),
        (
            Scenario { egos: vec![EgoSpawn::new("a", EgoKind::Car, 5.0, 1e4, 0.0, 0.0)], ..base.clone() },
            "egos[0].y_m",
            "off the map",
        ),
        (Scenario { vehicles: 5000, ..base.clone() }, "vehicles", "lane capacity"),
    ];
    for (scenario, field, words) in cases {
        let err = ProceduralDirector::new(&scenario).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with(field), "expected field {field}: {text}");
        assert!(text.contains(words), "expected {words:?}: {text}");
    }
    // A free camera above the roofs is fine.
    let sky = Scenario { egos: vec![EgoSpawn::new("a", EgoKind::FreeCamera, centre.x, centre.y, 60.0, 0.0)], ..base };
    ProceduralDirector::new(&sky).unwrap();
}

#[test]
fn bad_step_inputs_are_errors_not_panics() {
    let mut d = ProceduralDirector::new(&Scenario::default()).unwrap();
    for dt in [0.0, -1.0, f32::NAN, 5.0] {
        let err = d.step(dt, &[]).unwrap_err().to_string();
        assert!(err.starts_with("dt_secs"), "{err}");
    }
    let mut bad = ego_state(Mat4::IDENTITY);
    bad.world_from_base.w_axis.x = f32::INFINITY;
    let err = d.step(DT, &[ego_state(Mat4::IDENTITY), bad]).unwrap_err().to_string();
    assert!(err.starts_with("egos[1]"), "{err}");
}

#[test]
fn the_committed_default_scenario_file_is_the_default() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/default.yaml");
    assert_eq!(Scenario::from_file(&path).unwrap(), Scenario::default());
}
