//! Per-tick timings of the Director and the Actor on a scenario (default: the built-in default town).
//!
//! `CARGO_TARGET_DIR=/work/targets/world cargo run --release -p worldflow-world --example world_bench -- [scenario.yaml] [ticks]`
//!
//! Prints build times, Gaussian counts, and per-tick Director / Actor times (mean, p50, p95, max), plus the
//! Actor's cost relative to copying the whole Gaussian set once (a machine-independent ratio).

use std::time::Instant;

use worldflow_world::{Actor, ActorConfig, BicycleEgo, BicycleParams, Director, ProceduralDirector, Scenario, VehicleControl};

fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    format!("mean {mean:.3} ms, p50 {:.3}, p95 {:.3}, max {:.3}", q(0.5), q(0.95), q(1.0))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let scenario = match args.get(1) {
        Some(p) if p != "-" => Scenario::from_file(std::path::Path::new(p))?,
        _ => Scenario::default(),
    };
    let ticks: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(240);
    let dt = 1.0 / 24.0;

    let t0 = Instant::now();
    let (mut director, out0) = ProceduralDirector::new_with_output(&scenario)?;
    let director_build = t0.elapsed().as_secs_f64() * 1e3;
    let t0 = Instant::now();
    let mut actor = Actor::new(ActorConfig { seed: scenario.seed, ..Default::default() }, director.grid())?;
    let s0 = actor.step(director.grid(), &out0)?;
    let actor_build = t0.elapsed().as_secs_f64() * 1e3;
    let dims = director.grid().spec().dims;
    println!(
        "scenario: seed {}, {}×{} blocks, cell {} m, grid {}×{}×{} = {} cells, {} vehicles",
        scenario.seed,
        scenario.town.blocks_x,
        scenario.town.blocks_y,
        scenario.cell_size_m,
        dims.x,
        dims.y,
        dims.z,
        director.grid().spec().cell_count(),
        scenario.vehicles
    );
    println!("build: director {director_build:.1} ms, actor (static Gaussians) {actor_build:.1} ms");
    println!("gaussians: {} static + {} dynamic = {}", s0.static_count, s0.dynamic_count, s0.total());

    let spawn = &scenario.egos.first();
    let mut ego = spawn.map(|e| BicycleEgo::new(BicycleParams::default(), e.x_m, e.y_m, e.yaw_deg.to_radians())).transpose()?;
    let control = VehicleControl { throttle: 0.3, steer: 0.0, brake: 0.0 };
    let (mut td, mut ta) = (Vec::new(), Vec::new());
    let (mut spawned, mut removed, mut advected) = (0, 0, 0);
    for _ in 0..ticks {
        let egos: Vec<_> = ego.as_mut().map(|e| e.step(&control, dt).map(|_| e.state(0))).transpose()?.into_iter().collect();
        let t = Instant::now();
        let out = director.step(dt, &egos)?;
        td.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let s = actor.step(director.grid(), &out)?;
        ta.push(t.elapsed().as_secs_f64() * 1e3);
        spawned += s.spawned;
        removed += s.removed;
        advected += s.advected;
    }
    let t = Instant::now();
    let copy = actor.gaussians().clone();
    let copy_ms = t.elapsed().as_secs_f64() * 1e3;
    let actor_mean = ta.iter().sum::<f64>() / ta.len() as f64;
    println!("{ticks} ticks of {dt:.4} s:");
    println!("  director.step: {}", stats(td));
    println!("  actor.step:    {}", stats(ta));
    println!("  per tick: {} advected on average; {spawned} spawned, {removed} removed in total", advected / ticks.max(1));
    println!(
        "  ratio actor.step / clone of all {} Gaussians ({copy_ms:.3} ms): {:.3}",
        copy.len(),
        actor_mean / copy_ms.max(1e-9)
    );
    Ok(())
}
