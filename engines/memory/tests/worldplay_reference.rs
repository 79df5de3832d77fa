//! The `worldplay` policy against the official HY-WorldPlay selection.
//!
//! `fixtures/worldplay_memory.json` is written by `scripts/worldplay_memory_reference.py`, which runs the official
//! `select_mem_frames_wan` (HY-WorldPlay @ da2d0c26, imported at run time, not copied) chunk by chunk over four
//! trajectories (straight walk, turn in place, a loop that revisits its start, a dash with no overlap), each with
//! six point sets: worldflow's own 50,000 SplitMix64 points (`splitmix`) and five official
//! `generate_points_in_sphere(50000, 8.0)` draws (`torch_seed_K`).
//!
//! Tolerances, stated plainly:
//! * picks (the selected latent indices, in order): identical, every chunk, every trajectory;
//! * clip distances on the same points as the official run (`splitmix`): |Δ| ≤ [`TOL_SAME_POINTS`] (measured:
//!   ≤ 1.1e-16, i.e. the same in-view counts for every pair; the margin only allows a point exactly on a
//!   field-of-view edge, where f32 radians here and f32 degrees in torch could round apart, to flip 0 times);
//! * clip distances against the official run on its own random points: |Δ| ≤ [`TOL_OTHER_POINTS`] (Monte-Carlo
//!   spread of two independent 50,000-point samples, ≈ 2,600 points in view).

use std::collections::BTreeMap;

use glam::{Mat4, Vec3};
use serde::Deserialize;
use worldflow_memory::{FovConfig, FovSample, WorldPlayConfig, WorldPlayRetriever};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/worldplay_memory.json");
const TOL_SAME_POINTS: f64 = 1e-9;
const TOL_OTHER_POINTS: f64 = 0.04;

#[derive(Deserialize)]
struct Fixture {
    upstream: Upstream,
    config: Config,
    splitmix_points: SplitmixPoints,
    trajectories: Vec<Trajectory>,
}

#[derive(Deserialize)]
struct Upstream {
    commit: String,
}

#[derive(Deserialize)]
struct Config {
    chunk_latents: usize,
    context_window_length: usize,
    memory_frames: usize,
    temporal_context_size: usize,
    n_points: usize,
    radius: f32,
}

#[derive(Deserialize)]
struct SplitmixPoints {
    seed: u64,
    first: Vec<[f32; 3]>,
    sum: [f64; 3],
}

#[derive(Deserialize)]
struct Trajectory {
    name: String,
    /// Row-major 4 × 4 per latent.
    world_from_camera: Vec<[f32; 16]>,
    chunks: Vec<ChunkRef>,
}

#[derive(Deserialize)]
struct ChunkRef {
    chunk: usize,
    current: usize,
    selected: Vec<usize>,
    stable: bool,
    #[serde(default)]
    picks_by_point_set: BTreeMap<String, Vec<usize>>,
    #[serde(default)]
    distances: BTreeMap<String, Vec<(usize, f64)>>,
}

fn fixture() -> Fixture {
    let text = std::fs::read_to_string(FIXTURE).unwrap_or_else(|e| panic!("{FIXTURE}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{FIXTURE}: {e}"))
}

fn poses(t: &Trajectory) -> Vec<Mat4> {
    t.world_from_camera.iter().map(|a| Mat4::from_cols_array(a).transpose()).collect()
}

#[test]
fn fixture_is_the_official_setup_and_shares_our_points() {
    let f = fixture();
    assert_eq!(f.upstream.commit, "da2d0c26eb0edb647f56e164ffd966490eb75282");
    let ours = WorldPlayConfig::default();
    let c = &f.config;
    assert_eq!(
        (c.chunk_latents, c.context_window_length, c.memory_frames, c.temporal_context_size),
        (
            worldflow_memory::worldplay::WORLDPLAY_CHUNK_LATENTS,
            ours.context_window_length,
            ours.memory_frames,
            ours.temporal_context_size
        )
    );
    assert_eq!((c.n_points, c.radius), (ours.fov.n_points, ours.fov.radius));
    assert_eq!((ours.fov.half_yaw_deg, ours.fov.half_pitch_deg), (30.0, 17.5), "fov_h_deg=60, fov_v_deg=35");
    // The script's `splitmix` point set is exactly FovSample's: same first points, same sum.
    assert_eq!(f.splitmix_points.seed, FovConfig::default().seed);
    let sample = FovSample::new(&FovConfig::default()).unwrap();
    for (i, p) in f.splitmix_points.first.iter().enumerate() {
        assert_eq!(sample.points()[i], Vec3::from_array(*p), "point {i}");
    }
    let sum = sample.points().iter().fold([0f64; 3], |s, p| [s[0] + p.x as f64, s[1] + p.y as f64, s[2] + p.z as f64]);
    for (k, (ours, theirs)) in sum.iter().zip(f.splitmix_points.sum).enumerate() {
        assert!((ours - theirs).abs() < 1e-6, "sum[{k}] {ours} vs {theirs}");
    }
}

#[test]
fn picks_match_the_official_selection() {
    let f = fixture();
    let mut retrieving = 0;
    for t in &f.trajectories {
        let poses = poses(t);
        let mut r = WorldPlayRetriever::new(WorldPlayConfig::default()).unwrap();
        let (mut worst_same, mut worst_other) = (0f64, 0f64);
        for c in &t.chunks {
            let n = c.chunk * 4;
            assert_eq!((r.len(), c.current), (n, n), "{} chunk {}", t.name, c.chunk);
            let query = &poses[n..n + 4];
            let sel = r.select(query).unwrap();
            let at = format!("{} chunk {} (current {n})", t.name, c.chunk);
            assert_eq!(sel.context, c.selected, "{at}: picks");
            let k = sel.context.len() as u32;
            assert_eq!(sel.context_rope_time, (0..k).collect::<Vec<_>>(), "{at}");
            assert_eq!(sel.query_rope_time, (k..k + 4).collect::<Vec<_>>(), "{at}");
            if !c.distances.is_empty() {
                retrieving += 1;
                assert!(c.stable, "{at}: the official picks depend on the point set {:?}", c.picks_by_point_set);
                assert_eq!(c.picks_by_point_set.len(), 6, "{at}");
                let ours = r.clip_distances(query).unwrap();
                for (set, theirs) in &c.distances {
                    assert_eq!(
                        ours.iter().map(|d| d.0).collect::<Vec<_>>(),
                        theirs.iter().map(|d| d.0).collect::<Vec<_>>(),
                        "{at}: candidate clips"
                    );
                    let err = ours.iter().zip(theirs).map(|(a, b)| (a.1 - b.1).abs()).fold(0.0, f64::max);
                    if set == "splitmix" {
                        worst_same = worst_same.max(err);
                        assert!(err <= TOL_SAME_POINTS, "{at}: distance error {err} on the same points");
                    } else {
                        worst_other = worst_other.max(err);
                        assert!(err <= TOL_OTHER_POINTS, "{at}: distance error {err} vs {set}");
                    }
                }
                // Retrieved clip = the fixture's non-recent picks; its distance is the official one.
                let best = &sel.spatial[0];
                assert_eq!(c.selected[..4], (best.start..best.start + 4).collect::<Vec<_>>()[..], "{at}");
            }
            query.iter().for_each(|p| r.push(*p).unwrap());
        }
        eprintln!("{}: worst |Δdistance| {worst_same:.2e} (same points), {worst_other:.2e} (torch points)", t.name);
    }
    assert!(retrieving >= 20, "only {retrieving} retrieving chunks in the fixture");
}

/// The fixture exercises each rule: most-recent-overlap picks, revisits of old frames, and the all-ties rule.
#[test]
fn fixture_covers_the_rules() {
    let f = fixture();
    let by_name: BTreeMap<&str, &Trajectory> = f.trajectories.iter().map(|t| (t.name.as_str(), t)).collect();
    let memory = |c: &ChunkRef| c.selected[0];
    // Straight walk: the freshest candidate clip (just before the recent window) is the best.
    for c in by_name["straight_walk"].chunks.iter().filter(|c| c.current >= 16) {
        assert_eq!(memory(c), c.current - 16, "straight walk chunk {}", c.chunk);
    }
    // Loop: once the camera is back over the start (latent 40 on), it retrieves the clip of the first lap
    // 40 latents earlier, not one near the recent window.
    for c in by_name["loop_revisit"].chunks.iter().filter(|c| c.current >= 40) {
        assert_eq!(memory(c), c.current - 40, "loop chunk {}", c.chunk);
        assert!(c.distances["splitmix"].iter().find(|d| d.0 == memory(c)).unwrap().1 < 0.5);
    }
    // Dash: nothing overlaps, all distances are 1, the oldest clip (the first chunk) wins the tie.
    for c in by_name["dash"].chunks.iter().filter(|c| c.current >= 16) {
        assert!(c.distances.values().flatten().all(|d| d.1 == 1.0));
        assert_eq!(memory(c), 0);
    }
}
