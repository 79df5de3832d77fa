//! Ego agents in the shared world: car egos are bodies others see (and never see themselves), free cameras
//! are invisible; leaving the world clamps and warns; scenario files with mistakes are clear errors.

use glam::{Mat4, Quat, Vec3};
use worldflow_world::{
    Actor, ActorConfig, BicycleEgo, BicycleParams, Director, Ego, EgoKind, EgoSpawn, EgoState, ProceduralDirector, Rig,
    Scenario, SemanticClass, VehicleControl, EGO_BODY_ID_BASE,
};

const DT: f32 = 1.0 / 24.0;

fn spawn(name: &str, kind: EgoKind, x_m: f32, y_m: f32, z_m: f32) -> EgoSpawn {
    EgoSpawn::new(name, kind, x_m, y_m, z_m, 90.0)
}

#[test]
fn car_egos_are_seen_by_others_and_never_by_their_own_cameras() {
    // ego0 on the default spawn, ego1 12 m behind it in the same lane, a free camera beside them.
    let s = Scenario {
        egos: vec![
            spawn("a", EgoKind::Car, 5.25, 20.0, 0.0),
            spawn("b", EgoKind::Car, 5.25, 8.0, 0.0),
            spawn("c", EgoKind::FreeCamera, 5.25, 14.0, 0.0),
        ],
        ..Scenario::default()
    };
    let (d, out0) = ProceduralDirector::new_with_output(&s).unwrap();
    let ego_bodies: Vec<_> = out0.bodies.iter().filter(|b| b.id >= EGO_BODY_ID_BASE).collect();
    assert_eq!(ego_bodies.iter().map(|b| b.id).collect::<Vec<_>>(), vec![EGO_BODY_ID_BASE, EGO_BODY_ID_BASE + 1]);
    assert!(ego_bodies.iter().all(|b| b.class == SemanticClass::Vehicle));
    // The ego occupies cells of class vehicle under its base.
    assert_eq!(d.grid().class_at(Vec3::new(5.25, 20.0, 0.5)), SemanticClass::Vehicle);
    let mut actor = Actor::new(ActorConfig::default(), d.grid()).unwrap();
    actor.step(d.grid(), &out0).unwrap();
    let egos: Vec<Ego> = s.egos.iter().map(|e| Ego::from_spawn(e).unwrap()).collect();
    let rig = Rig::standard(320, 180);
    for k in 0..2u64 {
        let own = actor.body_gaussians(EGO_BODY_ID_BASE + k);
        assert!(own.len() > 100, "ego {k} has a body: {}", own.len());
        for cam in rig.cameras(&egos[k as usize].world_from_base()) {
            for (_, mean, _) in &own {
                let z = cam.camera_from_world.transform_point3(*mean).z;
                assert!(z < 0.0, "ego {k}: a Gaussian of its own body is in front of a lens (depth {z} m)");
            }
        }
    }
    // ego1's front camera sees ego0's body: most of its Gaussians project inside the image.
    let front = rig.cameras(&egos[1].world_from_base())[0];
    let seen = actor
        .body_gaussians(EGO_BODY_ID_BASE)
        .iter()
        .filter(|(_, mean, _)| {
            let p = front.camera_from_world.transform_point3(*mean);
            let (u, v) = (
                front.intrinsics.fx * p.x / p.z + front.intrinsics.cx,
                front.intrinsics.fy * p.y / p.z + front.intrinsics.cy,
            );
            p.z > 0.2 && (0.0..320.0).contains(&u) && (0.0..180.0).contains(&v)
        })
        .count();
    assert!(seen > 50, "ego1 sees ego0: {seen} Gaussians in view");
}

#[test]
fn a_parked_car_ego_is_never_overlapped_by_walkers_or_traffic() {
    // A parked car ego is an obstacle like any vehicle: over a long run no walker or vehicle overlaps it.
    let (mut d, _) = ProceduralDirector::new_with_output(&Scenario::default()).unwrap();
    for _ in 0..600 {
        d.step(DT, &[]).unwrap();
        assert_eq!(d.contested_cells(), 0);
    }
}

#[test]
fn an_ego_leaving_the_world_is_clamped_stopped_and_warned_about_once() {
    let s = Scenario::default();
    let mut d = ProceduralDirector::new(&s).unwrap();
    let (ex, _) = s.extent_m();
    let state = |x: f32| EgoState {
        index: 0,
        world_from_base: Mat4::from_rotation_translation(Quat::from_rotation_z(3.1), Vec3::new(x, 20.0, 0.0)),
        speed_mps: 5.0,
        half_extent_m: Vec3::new(2.25, 0.9, 0.75),
    };
    let mut warnings = Vec::new();
    for (tick, x) in [(1, 2.0), (2, -1.0), (3, -3.0), (4, 1.0), (5, -0.5), (6, 3.0), (7, ex + 9.0)].iter() {
        let out = d.step(DT, &[state(*x)]).unwrap();
        let body = out.bodies.iter().find(|b| b.id == EGO_BODY_ID_BASE).unwrap();
        let p = body.world_from_body.w_axis.truncate();
        assert!(p.x >= 0.0 && p.x <= ex, "tick {tick}: the ego body stays inside: {p}");
        if *x < 0.0 {
            assert_eq!(p.x, 0.0, "clamped at the boundary");
            assert_eq!(body.velocity_mps, Vec3::ZERO, "and stopped");
        }
        warnings.extend(d.warnings().iter().map(|w| (w.tick, w.to_string())));
    }
    let ticks: Vec<u64> = warnings.iter().map(|w| w.0).collect();
    assert_eq!(ticks, vec![2, 5, 7], "one warning per excursion: {warnings:?}");
    assert!(warnings[0].1.starts_with("agent0 (ego0) left the world at tick 2"), "{}", warnings[0].1);
    // A car ego's own dynamics: clamped at x = 0 and at rest.
    let mut car = Ego::Car(BicycleEgo::new(BicycleParams::default(), 1.0, 20.0, std::f32::consts::PI).unwrap());
    let bounds = *d.bounds();
    let mut clamps = 0;
    for _ in 0..48 {
        if let Ego::Car(c) = &mut car {
            c.step(&VehicleControl { throttle: 1.0, steer: 0.0, brake: 0.0 }, DT).unwrap();
        }
        if let Some((from, to)) = car.keep_inside(&bounds) {
            assert!(from.x < 0.0 && to.x == 0.0);
            clamps += 1;
        }
        assert!(car.world_from_base().w_axis.x >= 0.0);
    }
    assert!(clamps > 0);
    assert!(matches!(&car, Ego::Car(c) if c.speed_mps() < 0.2), "stopped at the boundary");
}

#[test]
fn scenario_files_with_mistakes_name_the_file_and_the_field() {
    let dir = std::env::temp_dir().join(format!("worldflow-egos-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let town = ProceduralDirector::new(&Scenario::default()).unwrap().town().clone();
    let b = town.buildings[0];
    let (bx, by) = (0.5 * (b.min_m.x + b.max_m.x), 0.5 * (b.min_m.y + b.max_m.y));
    let cases = [
        ("unknown.yaml", "seed: 1\nvehicle: 3\n".to_owned(), "unknown.yaml:2:", "vehicle"),
        ("type.yaml", "pedestrians: many\n".to_owned(), "type.yaml:1:", "pedestrians"),
        (
            "inside.yaml",
            format!("egos: [{{name: a, kind: car, x_m: {bx}, y_m: {by}}}]"),
            "inside.yaml: egos[0].x_m/y_m",
            "inside a building",
        ),
        ("outside.yaml", "egos: [{name: a, x_m: 5.25, y_m: -20}]".into(), "outside.yaml: egos[0].y_m", "off the map"),
        (
            "sidewalk.yaml",
            "egos: [{name: a, x_m: 8, y_m: 8}]".into(),
            "sidewalk.yaml: egos[0].x_m/y_m",
            "must start on a road",
        ),
        (
            "overlap.yaml",
            "egos: [{name: a, x_m: 5.25, y_m: 20, yaw_deg: 90}, {name: b, x_m: 5.25, y_m: 23, yaw_deg: 90}]".into(),
            "overlap.yaml: egos[1].x_m/y_m",
            "overlaps car ego egos[0]",
        ),
        ("walkers.yaml", "pedestrians: 5000\n".into(), "walkers.yaml: pedestrians", "sidewalk capacity"),
        ("narrow.yaml", "town: {sidewalk_width_m: 1.0}\n".into(), "narrow.yaml: pedestrians", "at least"),
        ("walkers.json", "{\"pedestrians\": 20000}".into(), "walkers.json: pedestrians", "at most 10000"),
    ];
    for (name, text, prefix, words) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let err = Scenario::from_setting(Some(path.to_str().unwrap())).unwrap_err().to_string();
        let shown = path.display().to_string();
        let expected = prefix.replacen(name, &shown, 1);
        assert!(err.starts_with(&expected), "{name}: expected `{expected}…`, got: {err}");
        assert!(err.contains(words), "{name}: expected {words:?} in: {err}");
    }
    // Two free cameras may share a spawn (they have no bodies); sidewalks without walkers may be narrow.
    for (name, text) in [
        ("cams.yaml", "egos: [{name: a, kind: free_camera, x_m: 5.25, y_m: 20}, {name: b, kind: free_camera, x_m: 5.25, y_m: 20}]"),
        ("quiet.yaml", "pedestrians: 0\ntown: {sidewalk_width_m: 1.0}\n"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        Scenario::from_setting(Some(path.to_str().unwrap())).unwrap();
    }
    std::fs::remove_dir_all(&dir).ok();
}
