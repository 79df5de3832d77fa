//! The wiring the README shows (what the director/actor nodes do), end to end, plus traffic invariants.

use worldflow_world::*;

#[test]
fn readme_wiring_runs_and_produces_valid_gaussians_and_cameras() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/default.yaml");
    let scenario = Scenario::from_file(&path).unwrap();
    let (mut director, out0) = ProceduralDirector::new_with_output(&scenario).unwrap();
    let mut actor = Actor::new(ActorConfig { seed: scenario.seed, ..Default::default() }, director.grid()).unwrap();
    actor.step(director.grid(), &out0).unwrap();
    let mut egos: Vec<Ego> = scenario.egos.iter().map(Ego::from_spawn).collect::<Result<_, _>>().unwrap();
    let rig = Rig::standard(64, 36);
    let control = VehicleControl { throttle: 0.5, steer: 0.0, brake: 0.0 };
    let start = egos[0].world_from_base();
    let dt_secs = 1.0 / 24.0;
    for _ in 0..48 {
        if let Ego::Car(car) = &mut egos[0] {
            car.step(&control, dt_secs).unwrap();
        }
        let states: Vec<EgoState> = egos.iter().enumerate().map(|(i, e)| e.state(i as u32)).collect();
        let out = director.step(dt_secs, &states).unwrap();
        let stats = actor.step(director.grid(), &out).unwrap();
        assert_eq!(stats.total(), actor.gaussians().len());
        actor.gaussians().validate().unwrap();
        let cameras = rig.cameras(&egos[0].world_from_base());
        assert_eq!(cameras.len(), 4);
        for c in &cameras {
            c.validate().unwrap();
        }
    }
    // The ego drove north (yaw 90°) along its lane: ½·(0.5·3 m/s²)·(2 s)² ≈ 3 m, a little less with drag.
    let moved = egos[0].world_from_base().w_axis - start.w_axis;
    assert!(moved.y > 2.8 && moved.y < 3.0 && moved.x.abs() < 1e-3, "{moved}");
}

#[test]
fn vehicles_on_the_same_lane_never_overlap() {
    let scenario = Scenario { vehicles: 60, ..Scenario::default() };
    let mut director = ProceduralDirector::new(&scenario).unwrap();
    let mut closest = f32::INFINITY;
    for _ in 0..(60.0 * 24.0) as usize {
        director.step(1.0 / 24.0, &[]).unwrap();
        let vs = &director.traffic().vehicles;
        for a in vs {
            for b in vs {
                if a.id != b.id && a.piece == b.piece && matches!(a.piece, Piece::Lane { .. }) && b.s_m > a.s_m {
                    let gap = b.s_m - a.s_m - a.half_extent_m().x - b.half_extent_m().x;
                    closest = closest.min(gap);
                }
            }
        }
    }
    assert!(closest >= 0.0, "overlap: gap {closest} m");
}
