//! The Matrix-Game streaming API on the tiny layout with seeded random weights (no goldens needed):
//! actions fed per pixel frame, blocks of 3 latents out, causality (later actions never change an
//! earlier block), determinism, the caches rolling past the 6-frame window, and clear errors.

use worldflow_dit::matrixgame::{random_weights, MatrixGameConfig, MatrixGameModel, MatrixGameStream, StreamSettings};
use worldflow_dit::Rng;

const CLIP_ROWS: usize = 5;
const CLIP_DIM: usize = 32;
const H: usize = 4;
const W: usize = 6;

fn model() -> MatrixGameModel {
    let cfg = MatrixGameConfig::tiny();
    MatrixGameModel::from_tensors(&cfg, random_weights(&cfg, CLIP_DIM, 5), "random(seed=5)").expect("tiny model")
}

/// Keyboard (one-hot W/S/A/D or none) and mouse (pitch, yaw) of pixel frame `p`, with `alter` from
/// pixel frame `from` on.
fn action(p: usize, from: usize, alter: bool) -> ([f32; 2], [f32; 4]) {
    let mut kb = [0.0; 4];
    kb[p % 4] = if p.is_multiple_of(3) { 0.0 } else { 1.0 };
    let mut mouse = [0.0, if p.is_multiple_of(2) { 0.1 } else { -0.1 }];
    if alter && p >= from {
        kb = [0.0, 1.0, 1.0, 0.0];
        mouse = [0.1, 0.1];
    }
    (mouse, kb)
}

/// Runs `blocks` blocks; actions altered from pixel frame `from` when `alter`.
fn run(model: &MatrixGameModel, blocks: usize, from: usize, alter: bool) -> Vec<Vec<f32>> {
    let vis: Vec<f32> = (0..CLIP_ROWS * CLIP_DIM).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.2).collect();
    let mut s = MatrixGameStream::new(model, &vis, CLIP_ROWS, H, W, StreamSettings::default()).expect("stream");
    let g = s.block_grid();
    let cond: Vec<f32> = (0..20 * g.frames * H * W).map(|i| ((i * 5 % 13) as f32 - 6.0) * 0.1).collect();
    let mut rng = Rng::new(9);
    let mut out = Vec::new();
    let mut pushed = 0;
    for _ in 0..blocks {
        let err = s.next_block_seeded(&cond, &mut Rng::new(0));
        if pushed < s.pixel_frames_needed() {
            assert!(err.unwrap_err().to_string().contains("pixel frames"), "a block without its actions is refused");
        }
        while pushed < s.pixel_frames_needed() {
            let (m, k) = action(pushed, from, alter);
            s.push_action(&m, &k).unwrap();
            pushed += 1;
        }
        out.push(s.next_block_seeded(&cond, &mut rng).expect("block"));
    }
    assert_eq!(s.frames_done(), 3 * blocks);
    let c = &s.caches();
    assert_eq!((c.self_attn[0].global_end, c.self_attn[0].local_end), (3 * blocks * 6, (3 * blocks).min(6) * 6));
    out
}

#[test]
fn blocks_stream_causally_and_deterministically() {
    let m = model();
    let a = run(&m, 4, 0, false);
    assert!(a.iter().all(|b| b.len() == 16 * 3 * H * W && b.iter().all(|v| v.is_finite())));
    assert_ne!(a[0], a[1]);
    assert_eq!(run(&m, 4, 0, false), a, "seeded: identical runs, identical latents");
    // Block 1 gets pixel frames 0..21 (1 + 4·5); block 2's frame 6 sees pixel frames 12..24. Altering
    // from pixel frame 21 on may only change blocks 2 and 3.
    let b = run(&m, 4, 21, true);
    assert_eq!(b[0], a[0], "later actions leave block 0 alone");
    assert_eq!(b[1], a[1], "later actions leave block 1 alone");
    assert_ne!(b[2], a[2], "block 2 follows its actions");
    assert_ne!(b[3], a[3]);
}

#[test]
fn bad_inputs_are_clear_errors() {
    let m = model();
    let vis = vec![0.0; CLIP_ROWS * CLIP_DIM];
    assert!(MatrixGameStream::new(&m, &vis[1..], CLIP_ROWS, H, W, StreamSettings::default())
        .err()
        .unwrap()
        .to_string()
        .contains("visual_context"));
    let mut s = MatrixGameStream::new(&m, &vis, CLIP_ROWS, H, W, StreamSettings::default()).unwrap();
    assert!(s.push_action(&[0.0], &[0.0; 4]).unwrap_err().to_string().contains("mouse 1"));
    assert!(s.push_action(&[f32::NAN, 0.0], &[0.0; 4]).is_err());
    for _ in 0..9 {
        s.push_action(&[0.0, 0.0], &[1.0, 0.0, 0.0, 0.0]).unwrap();
    }
    let e = s.next_block_seeded(&[0.0; 5], &mut Rng::new(0)).unwrap_err().to_string();
    assert!(e.contains("cond_concat"), "{e}");
    // A wrapper checkpoint (`model.` in front of every key) loads too.
    let wrapped =
        random_weights(&MatrixGameConfig::tiny(), CLIP_DIM, 1).into_iter().map(|(k, v)| (format!("model.{k}"), v));
    assert!(MatrixGameModel::from_tensors(&MatrixGameConfig::tiny(), wrapped.collect(), "wrapped").is_ok());
    let mut tensors = random_weights(&MatrixGameConfig::tiny(), CLIP_DIM, 1);
    tensors.remove("blocks.0.action_model.t_qkv.weight");
    let e = MatrixGameModel::from_tensors(&MatrixGameConfig::tiny(), tensors, "x").err().unwrap().to_string();
    assert!(e.contains("blocks.0.action_model.t_qkv.weight"), "{e}");
}
