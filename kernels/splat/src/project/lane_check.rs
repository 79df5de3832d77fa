//! Test support for the lane-parallel projections (`x8.rs`, `neon.rs`): a scene with every kind of
//! degenerate Gaussian mixed in, and the check that a lane-parallel projection gives the scalar
//! [`ProjectCtx::project`]'s outcome and record, bit for bit, for each of its Gaussians.

use glam::{Quat, Vec3};
use worldflow_protocol::{rigid_inverse, world_from_camera_look_at, Camera, Gaussians, Intrinsics};

use super::{Fate, ProjectCtx, Projected, Splat2D};
use crate::options::{Compat, DepthCull};

/// Gaussians around and behind a camera, with every kind of degenerate value mixed in.
fn mixed_scene(n: usize, sh_degree: u8) -> Gaussians {
    let mut state = 0x9E37_79B9u32;
    let mut rnd = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 8) as f32 / (1u32 << 24) as f32
    };
    let mut g = Gaussians::new(sh_degree);
    let k = (sh_degree as usize + 1).pow(2);
    for i in 0..n {
        let mut mean = Vec3::new(rnd() * 8.0 - 4.0, rnd() * 8.0 - 4.0, rnd() * 6.0 - 2.0);
        let mut scale = Vec3::new(0.01 + rnd() * 0.3, 0.01 + rnd() * 0.3, 0.001 + rnd() * 0.3);
        let mut rot = Quat::from_xyzw(rnd() - 0.5, rnd() - 0.5, rnd() - 0.5, rnd() - 0.5);
        let mut opacity = rnd();
        match i % 23 {
            0 => mean.x = f32::NAN,
            1 => scale.y = f32::INFINITY,
            2 => rot = Quat::from_xyzw(0.0, 0.0, 0.0, 0.0),
            3 => scale.z = -0.1,
            4 => scale.x = 0.0,
            5 => opacity = f32::NAN,
            6 => opacity = 0.001,
            7 => scale = Vec3::splat(1e20),
            8 => mean = Vec3::new(1e30, 0.0, 0.0),
            9 => rot = Quat::from_xyzw(1e30, 1e30, 0.0, 0.0),
            10 => scale = Vec3::new(1e-30, 1e-30, 1e-30),
            _ => {}
        }
        let sh: Vec<[f32; 3]> = (0..k).map(|_| [rnd() - 0.5, rnd() - 0.5, rnd() - 0.5]).collect();
        g.push(i as u64, mean, scale, rot, opacity, &sh);
    }
    g
}

/// Runs `project(ctx, g, base, out)` (Gaussians `base..base + L` into `out[..L]`, their fates returned)
/// over mixed scenes (SH degrees 0 and 3, with and without a far cull inside the scene) and asserts that
/// every lane's outcome and record print exactly as the scalar projection's (`{:?}` of f32 tells
/// `−0` from `0`), and that each outcome occurred often enough for the comparison to mean something.
pub(super) fn assert_lanes_match_scalar<const L: usize>(
    project: impl Fn(&ProjectCtx, &Gaussians, usize, &mut [Splat2D]) -> [Fate; L],
) {
    let c2w = world_from_camera_look_at(Vec3::new(0.3, -5.0, 0.8), Vec3::new(0.0, 0.0, 0.2), Vec3::Z);
    let camera = Camera {
        width: 203,
        height: 117,
        intrinsics: Intrinsics::from_fov_x(203, 117, 1.1),
        camera_from_world: rigid_inverse(&c2w),
    };
    let mut seen = [0usize; 3];
    for (sh_degree, far_z) in [(0u8, f32::INFINITY), (3, f32::INFINITY), (0, 5.5)] {
        let g = mixed_scene(4000, sh_degree);
        assert_eq!(g.len() % L, 0, "whole lane groups only");
        let ctx = ProjectCtx::new(&camera, DepthCull { compat: Compat::Inria, far_z }, false, sh_degree);
        assert!(ctx.has_wide_projection());
        for base in (0..g.len()).step_by(L) {
            let mut records = [Splat2D::default(); L];
            let fates = project(&ctx, &g, base, &mut records);
            for (l, fate) in fates.into_iter().enumerate() {
                let got = match fate {
                    Fate::Visible => format!("{:?}", Projected::Visible(records[l])),
                    other => format!("{other:?}"),
                };
                let want = ctx.project(&g, base + l);
                assert_eq!(got, format!("{want:?}"), "Gaussian {}", base + l);
                seen[fate as usize] += 1;
            }
        }
    }
    assert!(seen.iter().all(|&n| n > 300), "visible / culled / invalid: {seen:?}");
}
