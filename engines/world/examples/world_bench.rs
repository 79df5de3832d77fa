//! Per-tick timings of the Director and the Actor on a scenario (default: the built-in default town).
//!
//! `CARGO_TARGET_DIR=/work/targets/world cargo run --release -p worldflow-world --example world_bench -- [scenario.yaml] [ticks]`
//!
//! Prints build times, Gaussian counts, and per-tick Director / Actor times (mean, p50, p95, max), plus the
//! Actor's cost relative to copying the whole Gaussian set once (a machine-independent ratio).

use std::time::Instant;

use worldflow_world::{
    Actor, ActorConfig, BicycleEgo, BicycleParams, Director, ProceduralDirector, Scenario, VehicleControl,
};

/// On-CPU time of this thread in ns (Linux `/proc/thread-self/schedstat`), robust to other load on the machine.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

/// Runs `f`, returning its result, wall ms and on-CPU ms (wall when unavailable).
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let (c0, t0) = (cpu_ns(), Instant::now());
    let r = f();
    let wall = t0.elapsed().as_secs_f64() * 1e3;
    let cpu = match (c0, cpu_ns()) {
        (Some(a), Some(b)) => (b - a) as f64 * 1e-6,
        _ => wall,
    };
    (r, wall, cpu)
}

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
    let mut ego =
        spawn.map(|e| BicycleEgo::new(BicycleParams::default(), e.x_m, e.y_m, e.yaw_deg.to_radians())).transpose()?;
    let control = VehicleControl { throttle: 0.3, steer: 0.0, brake: 0.0 };
    let (mut td, mut ta, mut td_cpu, mut ta_cpu) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut spawned, mut removed, mut advected) = (0, 0, 0);
    for _ in 0..ticks {
        let egos: Vec<_> =
            ego.as_mut().map(|e| e.step(&control, dt).map(|_| e.state(0))).transpose()?.into_iter().collect();
        let (out, wall, cpu) = timed(|| director.step(dt, &egos));
        let out = out?;
        td.push(wall);
        td_cpu.push(cpu);
        let (s, wall, cpu) = timed(|| actor.step(director.grid(), &out));
        let s = s?;
        ta.push(wall);
        ta_cpu.push(cpu);
        spawned += s.spawned;
        removed += s.removed;
        advected += s.advected;
    }
    let (copy, _, copy_ms) = timed(|| actor.gaussians().clone());
    let actor_mean = ta_cpu.iter().sum::<f64>() / ta_cpu.len() as f64;
    println!("{ticks} ticks of {dt:.4} s:");
    println!("  director.step wall: {}", stats(td));
    println!("  director.step cpu:  {}", stats(td_cpu));
    println!("  actor.step wall:    {}", stats(ta));
    println!("  actor.step cpu:     {}", stats(ta_cpu));
    println!(
        "  per tick: {} advected on average; {spawned} spawned, {removed} removed in total",
        advected / ticks.max(1)
    );
    println!(
        "  ratio actor.step cpu / clone of all {} Gaussians ({copy_ms:.3} ms cpu): {:.3}",
        copy.len(),
        actor_mean / copy_ms.max(1e-9)
    );
    Ok(())
}
