//! Retrieval on synthetic trajectories with revisits: the indexed selection must equal the Monte-Carlo
//! reference (same clips, same distances), and revisits must retrieve the clips of the first visit.

use glam::{Mat4, Vec3, Vec4};
use worldflow_memory::{FovConfig, MemoryConfig, MemoryError, MemoryRetriever};

/// OpenCV camera (x right, y down, z forward) at `pos` in a z-up world, heading `yaw` (rad) in the
/// ground plane and pitched by `pitch` (rad, positive = looking up).
fn pose(pos: Vec3, yaw: f32, pitch: f32) -> Mat4 {
    let fwd = Vec3::new(yaw.cos() * pitch.cos(), yaw.sin() * pitch.cos(), pitch.sin());
    let right = Vec3::new(yaw.sin(), -yaw.cos(), 0.0);
    let down = fwd.cross(right); // z × x = y
    Mat4::from_cols(right.extend(0.0), down.extend(0.0), fwd.extend(0.0), Vec4::new(pos.x, pos.y, pos.z, 1.0))
}

/// Two laps of a circle of radius 12, tangent heading, ≈ 1 unit per latent (76 latents per lap).
fn circle_two_laps() -> (Vec<Mat4>, usize) {
    let per_lap = 76;
    let poses = (0..2 * per_lap)
        .map(|i| {
            let a = std::f32::consts::TAU * i as f32 / per_lap as f32;
            pose(Vec3::new(12.0 * a.cos(), 12.0 * a.sin(), 1.5), a + std::f32::consts::FRAC_PI_2, 0.0)
        })
        .collect();
    (poses, per_lap)
}

/// Random walk with turns in a 40 × 40 box (it keeps crossing its own path), slight pitch changes.
fn random_walk(n: usize, seed: u64) -> Vec<Mat4> {
    let mut s = seed;
    let mut rnd = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 33) as f32) / (1u64 << 31) as f32
    };
    let (mut p, mut yaw) = (Vec3::new(0.0, 0.0, 1.5), 0.0f32);
    (0..n)
        .map(|_| {
            yaw += (rnd() - 0.5) * 0.8;
            let step = Vec3::new(yaw.cos(), yaw.sin(), 0.0);
            if (p + step).x.abs() > 20.0 || (p + step).y.abs() > 20.0 {
                yaw += std::f32::consts::PI;
            }
            p += Vec3::new(yaw.cos(), yaw.sin(), 0.0);
            pose(p, yaw, (rnd() - 0.5) * 0.3)
        })
        .collect()
}

/// Replays the trajectory chunk by chunk; at every `every_nth_chunk`-th chunk compares the indexed and
/// Monte-Carlo selections. Returns (comparisons, comparisons whose best clip had distance < 1).
fn compare_along(poses: &[Mat4], cfg: MemoryConfig, every_nth_chunk: usize) -> (usize, usize) {
    let mut r = MemoryRetriever::new(cfg).unwrap();
    let (mut compared, mut overlapping) = (0, 0);
    let mut n = 0;
    let mut chunk = 0;
    while n + 4 <= poses.len() {
        let query = &poses[n..n + 4];
        if chunk % every_nth_chunk == 0 {
            let fast = r.select(query).unwrap();
            let mc = r.select_monte_carlo(query).unwrap();
            assert_eq!(fast, mc, "history {n}: indexed and Monte-Carlo selections differ");
            compared += 1;
            overlapping += usize::from(fast.spatial.first().is_some_and(|c| c.distance < 1.0));
        }
        for p in query {
            r.push(*p).unwrap();
        }
        n += 4;
        chunk += 1;
    }
    (compared, overlapping)
}

#[test]
fn circle_revisit_matches_reference_and_finds_first_lap() {
    let (poses, per_lap) = circle_two_laps();
    // Full published sample (50k points) at several chunks of the second lap.
    let mut r = MemoryRetriever::new(MemoryConfig::default()).unwrap();
    let mut checked = 0;
    for (i, p) in poses.iter().enumerate() {
        if i >= per_lap + 8 && i % 16 == 0 && i + 4 <= poses.len() {
            let query = &poses[i..i + 4];
            let fast = r.select(query).unwrap();
            let mc = r.select_monte_carlo(query).unwrap();
            assert_eq!(fast, mc, "history {i}");
            // The retrieved clip is the first-lap clip at the same place (± 2 clips).
            let best = fast.spatial[0];
            let expect = i - per_lap;
            assert!(
                best.start + 8 >= expect && best.start <= expect + 8,
                "history {i}: got clip {} expected ≈ {expect}",
                best.start
            );
            assert!(best.distance < 0.5, "history {i}: distance {}", best.distance);
            // 12 temporal + first chunk + 1 clip, reframed 0..20, query 20..24.
            assert_eq!(fast.context.len(), 20);
            assert_eq!(fast.context_rope_time, (0..20).collect::<Vec<u32>>());
            assert_eq!(fast.query_rope_time, vec![20, 21, 22, 23]);
            assert!(fast.context.windows(2).all(|w| w[0] < w[1]));
            checked += 1;
        }
        r.push(*p).unwrap();
    }
    assert!(checked >= 3);
}

#[test]
fn random_walks_match_reference() {
    let cfg = MemoryConfig { fov: FovConfig { n_points: 10_000, ..Default::default() }, ..Default::default() };
    let mut overlapping = 0;
    for seed in [1, 2] {
        let (n, o) = compare_along(&random_walk(160, seed), cfg.clone(), 4);
        assert!(n >= 9);
        overlapping += o;
    }
    assert!(overlapping >= 6, "the walks should revisit: only {overlapping} chunks retrieved an overlapping clip");
    // Sparser clip sampling and a larger memory (3 clips) exercise the other code paths.
    let cfg2 = MemoryConfig { memory_latents: 16, clip_sample_stride: 2, ..cfg };
    compare_along(&random_walk(120, 9), cfg2, 4);
}

#[test]
fn short_history_uses_everything_and_far_history_fills_by_recency() {
    let mut r = MemoryRetriever::new(MemoryConfig::default()).unwrap();
    let q = [pose(Vec3::new(1000.0, 0.0, 0.0), 0.0, 0.0)];
    for i in 0..20 {
        r.push(pose(Vec3::new(i as f32, 0.0, 0.0), 0.0, 0.0)).unwrap();
    }
    let s = r.select(&q).unwrap();
    assert_eq!(s.context, (0..20).collect::<Vec<_>>());
    assert!(s.spatial.is_empty());
    for i in 20..40 {
        r.push(pose(Vec3::new(i as f32, 0.0, 0.0), 0.0, 0.0)).unwrap();
    }
    // The query is far from everything: all clips tie at distance 1; the most recent eligible clip wins.
    let s = r.select(&q).unwrap();
    assert_eq!(s, r.select_monte_carlo(&q).unwrap());
    assert_eq!(s.spatial[0].start, 24);
    assert_eq!(s.spatial[0].distance, 1.0);
    assert_eq!(s.temporal, 28..40);
    assert_eq!(s.context, [0, 1, 2, 3, 24, 25, 26, 27].into_iter().chain(28..40).collect::<Vec<_>>());
}

#[test]
fn invalid_inputs_are_errors() {
    let mut r = MemoryRetriever::new(MemoryConfig::default()).unwrap();
    let mut bad = Mat4::IDENTITY;
    bad.x_axis.x = 2.0;
    let err = r.push(bad).unwrap_err().to_string();
    assert!(err.contains("history[0]"), "{err}");
    assert!(matches!(r.select(&[]), Err(MemoryError::Query(_))));
    let nan = Mat4::from_translation(Vec3::new(f32::NAN, 0.0, 0.0));
    assert!(r.select(&[nan]).unwrap_err().to_string().contains("query[0]"));
    let cfg = MemoryConfig { clip_latents: 0, ..Default::default() };
    assert!(MemoryRetriever::new(cfg).unwrap_err().to_string().contains("clip_latents"));
    let cfg = MemoryConfig { fov: FovConfig { half_yaw_deg: 95.0, ..Default::default() }, ..Default::default() };
    assert!(MemoryRetriever::new(cfg).unwrap_err().to_string().contains("half_yaw_deg"));
}
