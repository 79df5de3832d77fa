//! Speed of the ROS 2 bridge without dora: the bridge's own library ([`Translator`] + [`Dds`]) publishes a
//! synthetic camera rig to an independent DDS peer (`nodes/ros2-bridge/tests/bench_peer.py`, Cyclone DDS), and
//! this program measures the bridge's side: publish time per frame and ticks/s. `scripts/bench_ros2.sh` runs
//! both inside a network namespace and prints the table (docs/BENCHMARKS.md, "ROS 2 bridge").
//!
//! ```text
//! bridge_bench --mode lockstep|free [--cameras 1|4] [--width 640] [--height 360] [--ticks 200]
//!              [--reliability reliable|best_effort] [--rate HZ (free; 0 = as fast as possible)]
//!              [--dt 0.1] [--domain 0] [--wait-secs 30] [--timeout-secs 5] [--drain-secs 20]
//!              [--gap-ms MS (diagnostic: sleep between the cameras of a tick)]
//! ```
//!
//! Per tick `k` (simulated time `k·dt`): the ego pose (`/clock`, `/agent0/odom`, `/tf`), then each camera's
//! frame (`image_raw`, `camera_info`, and `/tf_static` the first time). Frames are a fixed gradient with
//! pseudo-random noise per camera (not compressible to nothing, never all zero) whose first 8 bytes carry the
//! tick and byte 8 the camera index, so the peer can check what it got. The publish time of a frame is
//! `Translator::on_frame` (which copies the pixels into the ROS message) plus `Dds::publish` of everything
//! it returns: serialization and admission into RustDDS's send buffer, the wire transfer happens on RustDDS's
//! event-loop thread (a reliable writer whose send window is full blocks here, up to `WhenFull::Wait`).
//!
//! The peer talks back on `/agent0/cmd_vel` (geometry_msgs/Twist): `linear.z = -1` "ready" (its readers
//! matched the writers), `linear.z = -2` "done" (free-running: it has every frame or gave up waiting), and in
//! lock-step one answer per complete tick with `linear.y = tick mod 100`. Lock-step publishes tick `k + 1` only
//! after the answer to tick `k` (`--timeout-secs` without one: counted, and the next tick goes out).
//!
//! Prints one JSON line on stdout; warnings of the bridge (failed publishes) are collected into it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use glam::{Mat4, Quat, Vec3, Vec4};
use serde_json::json;
use worldflow_protocol::{mat4_to_rows, ChunkMeta, Encoding, FrameHeader, Intrinsics, StampedPose};
use worldflow_ros2_bridge::control::Command;
use worldflow_ros2_bridge::dds::Dds;
use worldflow_ros2_bridge::{ControlSettings, Mode, Reliability, Settings, Translator};

/// The rig's camera names and yaws (REP-103: positive = left), as the 4-camera rig of the main job.
const RIG: [(&str, f32); 4] = [("front", 0.0), ("left", 90.0), ("rear", 180.0), ("right", -90.0)];

struct Args {
    lockstep: bool,
    cameras: usize,
    width: u32,
    height: u32,
    ticks: u64,
    reliability: Reliability,
    rate_hz: f64,
    dt_secs: f64,
    domain: u16,
    wait: Duration,
    timeout: Duration,
    drain: Duration,
    gap: Duration,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        lockstep: true,
        cameras: 1,
        width: 640,
        height: 360,
        ticks: 200,
        reliability: Reliability::Reliable,
        rate_hz: 0.0,
        dt_secs: 0.1,
        domain: 0,
        wait: Duration::from_secs(30),
        timeout: Duration::from_secs(5),
        drain: Duration::from_secs(20),
        gap: Duration::ZERO,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        let secs = |v: String| -> anyhow::Result<Duration> {
            let s: f64 = v.parse().with_context(|| format!("{flag}: seconds"))?;
            Duration::try_from_secs_f64(s).with_context(|| format!("{flag}: seconds ≥ 0"))
        };
        match flag.as_str() {
            "--mode" => {
                a.lockstep = match value()?.as_str() {
                    "lockstep" => true,
                    "free" => false,
                    other => bail!("--mode: lockstep or free, not {other}"),
                }
            }
            "--cameras" => {
                a.cameras = value()?.parse().context("--cameras")?;
                if !(1..=RIG.len()).contains(&a.cameras) {
                    bail!("--cameras: 1 to {}", RIG.len());
                }
            }
            "--width" => a.width = value()?.parse().context("--width")?,
            "--height" => a.height = value()?.parse().context("--height")?,
            "--ticks" => a.ticks = value()?.parse().context("--ticks")?,
            "--reliability" => {
                a.reliability = match value()?.as_str() {
                    "reliable" => Reliability::Reliable,
                    "best_effort" => Reliability::BestEffort,
                    other => bail!("--reliability: reliable or best_effort, not {other}"),
                }
            }
            "--rate" => a.rate_hz = value()?.parse().context("--rate")?,
            "--dt" => a.dt_secs = value()?.parse().context("--dt")?,
            "--domain" => a.domain = value()?.parse().context("--domain")?,
            "--wait-secs" => a.wait = secs(value()?)?,
            "--timeout-secs" => a.timeout = secs(value()?)?,
            "--drain-secs" => a.drain = secs(value()?)?,
            "--gap-ms" => a.gap = secs(value()?)? / 1000,
            other => bail!("unknown argument {other} (see the header of examples/bridge_bench.rs)"),
        }
    }
    if a.width == 0
        || a.height == 0
        || a.ticks == 0
        || a.dt_secs.is_nan()
        || a.dt_secs <= 0.0
        || a.rate_hz.is_nan()
        || a.rate_hz < 0.0
    {
        bail!("--width, --height, --ticks, --dt must be positive and --rate non-negative");
    }
    Ok(a)
}

/// `base_link → CAM_optical`: 1.5 m ahead of the rear axle turned by `yaw_deg`, 1.4 m up, optical axes
/// (x right, y down, z forward).
fn base_from_camera(yaw_deg: f32) -> Mat4 {
    let axes = Mat4::from_cols(
        Vec4::new(0.0, -1.0, 0.0, 0.0),
        Vec4::new(0.0, 0.0, -1.0, 0.0),
        Vec4::new(1.0, 0.0, 0.0, 0.0),
        Vec4::W,
    );
    let yaw = Quat::from_rotation_z(yaw_deg.to_radians());
    Mat4::from_rotation_translation(yaw, Vec3::new(1.5, 0.0, 1.4)) * axes
}

/// The ego pose of tick `k`: 0.5 m forward and 0.02 rad left per tick (a gentle curve).
fn world_from_base(k: u64) -> Mat4 {
    let yaw = 0.02 * k as f32;
    let mut at = Vec3::ZERO;
    for j in 0..k {
        let y = 0.02 * j as f32;
        at += 0.5 * Vec3::new(y.cos(), y.sin(), 0.0);
    }
    Mat4::from_rotation_translation(Quat::from_rotation_z(yaw), at)
}

/// A `width × height` RGB8 image: a gradient per channel plus noise from a seeded xorshift, tinted per camera.
fn make_image(width: u32, height: u32, camera: usize) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let mut rgb = vec![0u8; 3 * w * h];
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (camera as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    for y in 0..h {
        for x in 0..w {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state & 0x1F) as usize;
            let p = 3 * (y * w + x);
            rgb[p] = ((255 * x / w.max(1) + noise) & 0xFF) as u8;
            rgb[p + 1] = ((255 * y / h.max(1) + noise + 64 * camera) & 0xFF) as u8;
            rgb[p + 2] = ((128 + noise * 3 + 40 * camera) & 0xFF) as u8;
        }
    }
    rgb
}

/// Milliseconds summary: p50, p99, max, mean.
fn summary(mut ms: Vec<f64>) -> serde_json::Value {
    if ms.is_empty() {
        return json!(null);
    }
    ms.sort_by(f64::total_cmp);
    let q = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    let r = |v: f64| (v * 1000.0).round() / 1000.0;
    json!({
        "n": ms.len(),
        "p50": r(q(0.5)),
        "p99": r(q(0.99)),
        "max": r(ms[ms.len() - 1]),
        "mean": r(ms.iter().sum::<f64>() / ms.len() as f64),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// What the peer sent on `/agent0/cmd_vel`.
enum FromPeer {
    Ready,
    Done,
    Answer(u64),
}

fn take_from_peer(dds: &Dds) -> Vec<FromPeer> {
    let mut out = Vec::new();
    for r in dds.take_commands() {
        if let Ok(Command::Velocity(v)) = r.command {
            out.push(if v.up_mps == -1.0 {
                FromPeer::Ready
            } else if v.up_mps == -2.0 {
                FromPeer::Done
            } else {
                FromPeer::Answer(v.left_mps.round() as u64)
            });
        }
    }
    out
}

/// How often the bench looks for the peer's commands while it waits.
const POLL: Duration = Duration::from_micros(200);

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let warnings = Arc::new(Mutex::new(Vec::new()));
    tracing::subscriber::set_global_default(WarningCollector { warnings: warnings.clone() })
        .context("installing the warning collector")?;

    let cameras: Vec<(String, f32)> = RIG[..args.cameras].iter().map(|&(n, yaw)| (n.to_owned(), yaw)).collect();
    let names: Vec<String> = cameras.iter().map(|(n, _)| n.clone()).collect();
    let dt_ns = (args.dt_secs * 1e9).round() as u64;
    let settings = Settings {
        reliability: args.reliability,
        domain_id: args.domain,
        localhost_only: true,
        wait_for_subscribers: args.wait,
        control: ControlSettings {
            mode: if args.lockstep { Mode::LockStep } else { Mode::FreeRunning },
            agents: 1,
            cameras: names.clone(),
            dt_ns,
            timeout: args.timeout,
            max_ticks: Some(args.ticks),
        },
        record: false,
    };
    let mut dds = Dds::open(&settings)?;
    dds.subscribe_commands(1)?;
    // The peer's command writer is how the bench knows the peer is there; then every publisher is created and
    // the peer says "ready" once its readers matched them.
    if !dds.wait_for_controllers(1).is_empty() {
        bail!("no peer publishing /agent0/cmd_vel within {:?}", args.wait);
    }
    dds.prepare(1, &names)?;
    let deadline = Instant::now() + args.wait;
    while !take_from_peer(&dds).iter().any(|c| matches!(c, FromPeer::Ready)) {
        if Instant::now() > deadline {
            bail!("the peer did not say ready within {:?}", args.wait);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    take_from_peer(&dds);

    let intrinsics = Intrinsics::from_fov_x(args.width, args.height, 90f32.to_radians());
    let mut images: Vec<Vec<u8>> = (0..cameras.len()).map(|c| make_image(args.width, args.height, c)).collect();
    let mut translator = Translator::new();
    let (mut frame_ms, mut translate_ms, mut publish_ms, mut tick_ms, mut wait_ms) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut timeouts, mut stale, mut done) = (0u64, 0u64, false);
    let period = (args.rate_hz > 0.0).then(|| Duration::from_secs_f64(1.0 / args.rate_hz));
    let start = Instant::now();
    let mut last_published = start;
    for k in 0..args.ticks {
        if let Some(p) = period {
            let due = start + p.mul_f64(k as f64);
            if let Some(early) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(early);
            }
        }
        let tick_start = Instant::now();
        let meta = ChunkMeta { agent_id: 0, tick: k, sim_time_ns: k * dt_ns };
        let world_from_base = world_from_base(k);
        let pose = StampedPose { meta, frame_id: "base_link".into(), world_from_frame: mat4_to_rows(&world_from_base) };
        for msg in translator.on_pose(&pose)? {
            dds.publish(msg)?;
        }
        for (c, (name, yaw)) in cameras.iter().enumerate() {
            if c > 0 && !args.gap.is_zero() {
                std::thread::sleep(args.gap);
            }
            let rgb = &mut images[c];
            rgb[..8].copy_from_slice(&k.to_le_bytes());
            rgb[8] = c as u8;
            let header = FrameHeader {
                meta,
                camera: name.clone(),
                width: args.width,
                height: args.height,
                encoding: Encoding::Rgb8,
                intrinsics: [intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy],
                camera_from_world: mat4_to_rows(&(world_from_base * base_from_camera(*yaw)).inverse()),
            };
            let t0 = Instant::now();
            let out = translator.on_frame(&header, rgb)?;
            let t1 = Instant::now();
            for msg in out {
                dds.publish(msg)?;
            }
            let t2 = Instant::now();
            translate_ms.push(ms(t1 - t0));
            publish_ms.push(ms(t2 - t1));
            frame_ms.push(ms(t2 - t0));
        }
        last_published = Instant::now();
        tick_ms.push(ms(last_published - tick_start));
        if args.lockstep {
            let waited = Instant::now();
            let mut answered = false;
            while !answered {
                for c in take_from_peer(&dds) {
                    match c {
                        FromPeer::Answer(t) if t == k % 100 => answered = true,
                        FromPeer::Answer(_) => stale += 1,
                        FromPeer::Done => done = true,
                        FromPeer::Ready => {}
                    }
                }
                if !answered && waited.elapsed() >= args.timeout {
                    timeouts += 1;
                    break;
                }
                if !answered {
                    std::thread::sleep(POLL);
                }
            }
            if answered {
                wait_ms.push(ms(waited.elapsed()));
            }
        }
    }
    let wall = last_published - start;
    // The peer says "done" once it has every frame (or gave up); reliable writers must stay up until then.
    let drain_start = Instant::now();
    while !done && drain_start.elapsed() < args.drain {
        done = take_from_peer(&dds).iter().any(|c| matches!(c, FromPeer::Done));
        std::thread::sleep(Duration::from_millis(2));
    }
    let drain = drain_start.elapsed();
    dds.linger();

    let frames = args.ticks * cameras.len() as u64;
    let r3 = |v: f64| (v * 1000.0).round() / 1000.0;
    // Ticks per second over the run: the last tick's publish end counts as the end (the first starts at 0).
    let ticks_per_s = if args.ticks > 1 { args.ticks as f64 / wall.as_secs_f64() } else { 0.0 };
    let line = json!({
        "bench": "bridge",
        "mode": if args.lockstep { "lockstep" } else { "free" },
        "reliability": match args.reliability { Reliability::Reliable => "reliable", Reliability::BestEffort => "best_effort" },
        "cameras": cameras.len(),
        "width": args.width,
        "height": args.height,
        "frame_bytes": 3 * args.width as u64 * args.height as u64,
        "ticks": args.ticks,
        "frames": frames,
        "rate_hz": args.rate_hz,
        "gap_ms": ms(args.gap),
        "wall_s": r3(wall.as_secs_f64()),
        "ticks_per_s": r3(ticks_per_s),
        "frames_per_s": r3(ticks_per_s * cameras.len() as f64),
        "publish_frame_ms": summary(frame_ms),
        "translate_ms": summary(translate_ms),
        "dds_publish_ms": summary(publish_ms),
        "tick_publish_ms": summary(tick_ms),
        "lockstep_wait_ms": summary(wait_ms),
        "lockstep_timeouts": timeouts,
        "stale_answers": stale,
        "peer_done": done,
        "drain_s": r3(drain.as_secs_f64()),
        "warnings": warnings.lock().map(|w| w.clone()).unwrap_or_default(),
    });
    println!("{line}");
    Ok(())
}

/// A minimal `tracing` subscriber: keeps the bridge's warnings (failed publishes and their counts) for the
/// JSON line and echoes them on stderr; spans are not tracked.
struct WarningCollector {
    warnings: Arc<Mutex<Vec<String>>>,
}

struct MessageText(BTreeMap<String, String>);

impl tracing::field::Visit for MessageText {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl tracing::Subscriber for WarningCollector {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.is_event() && *metadata.level() <= tracing::Level::WARN
    }

    fn new_span(&self, _span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _span: &tracing::span::Id, _values: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _span: &tracing::span::Id, _follows: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = MessageText(BTreeMap::new());
        event.record(&mut fields);
        let text = fields.0.remove("message").unwrap_or_default();
        eprintln!("bridge_bench: {} {text}", event.metadata().level());
        if let Ok(mut w) = self.warnings.lock() {
            w.push(text);
        }
    }

    fn enter(&self, _span: &tracing::span::Id) {}

    fn exit(&self, _span: &tracing::span::Id) {}
}
