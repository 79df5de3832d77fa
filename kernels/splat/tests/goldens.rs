//! Golden images from the independent NumPy reference (`reference/render_ref.py`, float64).
//!
//! Tolerance: 1e-5 absolute per channel. The renderer works in f32; the per-pixel power has a relative
//! error of a few ulp (≈1e-6 for |power| ≤ 5.5, the range where α ≥ 1/255), which moves α and the
//! composited colour by ≈1e-6 — an order of magnitude below the tolerance — while any algorithmic
//! difference (a constant, a threshold, the tile rectangle, the blend order) moves pixels by ≥ 1/255·T.

mod common;

use common::{all_cases, max_abs_diff};
use worldflow_splat::{render_naive, Image, Renderer};

const TOLERANCE: f32 = 1e-5;

#[test]
fn optimised_renderer_matches_reference_goldens() {
    for case in all_cases() {
        let mut renderer = Renderer::new(case.options);
        let mut image = Image::default();
        let stats = renderer.render(&case.gaussians, &case.camera, &mut image).unwrap();
        assert_eq!([stats.visible, stats.culled, stats.invalid], case.stats, "{}: stats {stats:?}", case.name);
        let (err, at) = max_abs_diff(&image, &case.image);
        println!("{}: max abs error {err:e} (optimised)", case.name);
        let px = at / 3;
        assert!(
            err <= TOLERANCE,
            "{}: max abs error {err} at pixel ({}, {}) channel {}: got {} expected {}",
            case.name,
            px % case.camera.width as usize,
            px / case.camera.width as usize,
            at % 3,
            image.data[at],
            case.image.data[at]
        );
    }
}

#[test]
fn naive_renderer_matches_reference_goldens() {
    for case in all_cases() {
        let mut image = Image::default();
        let stats = render_naive(&case.gaussians, &case.camera, &case.options, &mut image).unwrap();
        assert_eq!([stats.visible, stats.culled, stats.invalid], case.stats, "{}", case.name);
        let (err, at) = max_abs_diff(&image, &case.image);
        assert!(err <= TOLERANCE, "{}: max abs error {err} at flat index {at}", case.name);
    }
}
