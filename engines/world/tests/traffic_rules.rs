//! Traffic rules over long seeded runs: no two bodies ever share a cell (intersections, crossings, walkers),
//! and nobody deadlocks (vehicles and walkers keep moving).

use worldflow_world::{Director, ProceduralDirector, Scenario, SemanticClass};

const DT: f32 = 1.0 / 24.0;

/// Runs `ticks` ticks; returns (ticks with contested cells, mean vehicle speed, mean walker speed, crossings,
/// mean vehicle speed over the last quarter of the run).
fn long_run(scenario: &Scenario, ticks: usize) -> (Vec<(usize, usize)>, f32, f32, usize, f32) {
    let mut d = ProceduralDirector::new(scenario).unwrap();
    let mut contested = Vec::new();
    let (mut v_sum, mut p_sum) = (0.0f64, 0.0f64);
    let mut crossings = 0;
    let mut late_sum = 0.0f64;
    let mut on_road_before = vec![false; d.crowd().pedestrians.len()];
    for t in 0..ticks {
        let out = d.step(DT, &[]).unwrap();
        if d.contested_cells() > 0 {
            contested.push((t, d.contested_cells()));
        }
        let vs = &d.traffic().vehicles;
        let v_tick = vs.iter().map(|v| v.speed_mps as f64).sum::<f64>() / vs.len().max(1) as f64;
        v_sum += v_tick;
        if t >= ticks - ticks / 4 {
            late_sum += v_tick;
        }
        let ps = &d.crowd().pedestrians;
        p_sum += ps.iter().map(|p| p.speed_mps as f64).sum::<f64>() / ps.len().max(1) as f64;
        for (k, b) in out.bodies.iter().filter(|b| b.class == SemanticClass::Pedestrian).enumerate() {
            let under = d.static_grid().class_at(b.world_from_body.w_axis.truncate().with_z(-0.5));
            let on_road = matches!(under, SemanticClass::Road | SemanticClass::LaneMarking);
            if on_road && !on_road_before[k] {
                crossings += 1;
            }
            on_road_before[k] = on_road;
        }
    }
    let late = (late_sum / (ticks / 4) as f64) as f32;
    (contested, (v_sum / ticks as f64) as f32, (p_sum / ticks as f64) as f32, crossings, late)
}

#[test]
fn no_two_bodies_share_a_cell_and_traffic_keeps_moving() {
    // (seed, vehicles, walkers, keep the default ego parked at its spawn, bounds on mean speeds).
    // Measured (2000 ticks of 1/24 s): 24 vehicles ≈ 5.3 m/s overall; 60 vehicles ≈ 3 m/s; walkers ≈ 1.2 m/s.
    let cases = [
        (7u64, 24u32, 12u32, false, 3.0f32),
        (11, 24, 12, false, 3.0),
        (7, 24, 12, true, 2.0),
        (3, 60, 30, false, 1.5),
    ];
    for (seed, vehicles, pedestrians, parked_ego, min_speed) in cases {
        let mut s = Scenario { seed, vehicles, pedestrians, ..Scenario::default() };
        if !parked_ego {
            s.egos.clear();
        }
        let (contested, v_mean, p_mean, crossings, late) = long_run(&s, 2000);
        let case = format!("seed {seed}, {vehicles} vehicles, {pedestrians} walkers, parked ego {parked_ego}");
        assert!(contested.is_empty(), "{case}: cells shared at (tick, cells) {contested:?}");
        assert!(v_mean > min_speed, "{case}: vehicles crawl at {v_mean} m/s");
        assert!(late > 0.5 * min_speed, "{case}: vehicles at {late} m/s in the last quarter (deadlock?)");
        assert!(p_mean > 0.5, "{case}: walkers crawl at {p_mean} m/s");
        assert!(crossings >= 10, "{case}: walkers crossed roads only {crossings} times");
    }
}
