//! Steady state allocates nothing: once a [`Renderer`] and an [`Image`] have rendered a scene from a set of
//! views, rendering those views again performs no heap allocation (buffers only grow, to the largest frame
//! seen). Counted with this test binary's own
//! global allocator, on a one-thread rayon pool so that the single worker's per-thread tile scratch has
//! grown in the warm-up frame (with more threads each worker's scratch grows until it has met the largest
//! tile once, then stays).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use glam::{Quat, Vec3};
use worldflow_protocol::{rigid_inverse, world_from_camera_look_at, Camera, Gaussians, Intrinsics};
use worldflow_splat::{Image, RenderOptions, Renderer};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn scene(n: usize) -> Gaussians {
    let mut state = 42u32;
    let mut rnd = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 8) as f32 / (1u32 << 24) as f32
    };
    let mut g = Gaussians::new(1);
    for i in 0..n {
        let mean = Vec3::new(rnd() * 4.0 - 2.0, rnd() * 4.0 - 2.0, rnd() * 2.0 - 1.0);
        let scale = Vec3::new(0.02 + 0.1 * rnd(), 0.02 + 0.1 * rnd(), 0.02 + 0.05 * rnd());
        let rot = Quat::from_xyzw(rnd() - 0.5, rnd() - 0.5, rnd() - 0.5, rnd() - 0.5).normalize();
        let sh: Vec<[f32; 3]> = (0..4).map(|_| [rnd() - 0.5, rnd() - 0.5, rnd() - 0.5]).collect();
        g.push(i as u64, mean, scale, rot, 0.05 + 0.9 * rnd(), &sh);
    }
    g
}

fn camera(eye: Vec3) -> Camera {
    let c2w = world_from_camera_look_at(eye, Vec3::ZERO, Vec3::Z);
    Camera {
        width: 161,
        height: 97,
        intrinsics: Intrinsics::from_fov_x(161, 97, 1.2),
        camera_from_world: rigid_inverse(&c2w),
    }
}

#[test]
fn rendering_again_allocates_nothing() {
    let g = scene(20_000);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    pool.install(|| {
        let mut renderer = Renderer::new(RenderOptions::default());
        let mut image = Image::default();
        let cameras: Vec<Camera> =
            (0..4).map(|k| camera(Vec3::new(0.3 * k as f32, -5.0 + 0.4 * k as f32, 0.5))).collect();
        // Warm-up: each view once, so every buffer reaches the largest size these frames need.
        for cam in &cameras {
            let warm = renderer.render(&g, cam, &mut image).unwrap();
            assert!(warm.visible > 5_000, "{warm:?}");
        }
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let mut visible = 0;
        for cam in cameras.iter().rev() {
            visible += renderer.render(&g, cam, &mut image).unwrap().visible;
        }
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
        assert!(visible > 0);
        assert_eq!(allocations, 0, "{allocations} heap allocations in 4 steady-state frames");
    });
}
