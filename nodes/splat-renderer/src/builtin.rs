//! Built-in scenes, so that a graph can render something real with no file at all.
//!
//! `builtin:plaza`: a 40 m × 40 m checkered ground (z = 0, world z up) with coloured pillars on a ring of
//! radius 8 m and a few boulders — about 30k Gaussians, seeded and identical on every machine.

use glam::{Quat, Vec3};
use worldflow_base::SplitMix64;
use worldflow_protocol::{rgb_to_sh_dc, Gaussians};

pub fn plaza() -> Gaussians {
    let mut g = Gaussians::new(0);
    let mut rng = SplitMix64::new(7);
    let mut id = 0u64;
    let mut push = |g: &mut Gaussians, mean: Vec3, scale: Vec3, rgb: [f32; 3], opacity: f32| {
        g.push(id, mean, scale, Quat::IDENTITY, opacity, &[rgb_to_sh_dc(rgb)]);
        id += 1;
    };
    let step = 0.25;
    let n = (40.0 / step) as i32;
    for i in 0..n {
        for j in 0..n {
            let x = -20.0 + (i as f32 + 0.5) * step;
            let y = -20.0 + (j as f32 + 0.5) * step;
            let checker = ((x.floor() as i32 + y.floor() as i32) & 1) as f32;
            let shade = 0.35 + 0.3 * checker + 0.05 * rng.next_f32();
            push(&mut g, Vec3::new(x, y, 0.0), Vec3::new(0.16, 0.16, 0.01), [shade, shade * 0.95, shade * 0.85], 0.95);
        }
    }
    for k in 0..12 {
        let a = k as f32 / 12.0 * std::f32::consts::TAU;
        let base = Vec3::new(8.0 * a.cos(), 8.0 * a.sin(), 0.0);
        let hue = [0.5 + 0.5 * a.cos(), 0.5 + 0.5 * (a + 2.1).cos(), 0.5 + 0.5 * (a + 4.2).cos()];
        for h in 0..40 {
            for s in 0..16 {
                let phi = s as f32 / 16.0 * std::f32::consts::TAU;
                let p = base + Vec3::new(0.4 * phi.cos(), 0.4 * phi.sin(), 0.05 + h as f32 * 0.075);
                let band = if h % 8 < 4 { 1.0 } else { 0.7 };
                push(&mut g, p, Vec3::new(0.09, 0.09, 0.06), hue.map(|c| c * band), 0.9);
            }
        }
    }
    for b in 0..6 {
        let c = Vec3::new(rng.next_f32() * 24.0 - 12.0, rng.next_f32() * 24.0 - 12.0, 0.4);
        for _ in 0..300 {
            let d =
                Vec3::new(rng.next_f32() - 0.5, rng.next_f32() - 0.5, rng.next_f32() - 0.5).normalize_or_zero() * 0.6;
            let grey = 0.4 + 0.2 * rng.next_f32() + 0.05 * b as f32;
            push(&mut g, c + d, Vec3::splat(0.12), [grey, grey * 0.9, grey * 0.8], 0.9);
        }
    }
    g
}
