//! Image consistency metrics for `worldflow eval revisit`: PSNR and SSIM on RGB f32 images.
//!
//! Images are interleaved RGB, row-major, `width · height · 3` floats, data range [0, 1] (values outside are
//! allowed and used as is). PSNR = 10·log10(1 / MSE) over all pixels and channels (`+∞` for identical
//! images). SSIM follows Wang et al. 2004 with the **11×11 Gaussian window, σ = 1.5**, K1 = 0.01,
//! K2 = 0.03, L = 1, computed per channel over *valid* window positions only (no padding — as the
//! reference MATLAB `ssim_index` with `'valid'` filtering) and averaged over positions and channels.
//! Images smaller than 11×11 are an error.

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MetricsError {
    #[error("{name}: expected {expected} floats (width × height × 3), found {found}")]
    Size { name: &'static str, expected: usize, found: usize },
    #[error("images of {width}×{height}: SSIM needs at least {WINDOW}×{WINDOW} pixels")]
    TooSmall { width: usize, height: usize },
    #[error("{name}: non-finite value at float {index}")]
    NonFinite { name: &'static str, index: usize },
}

/// An RGB image view (interleaved, row-major).
#[derive(Debug, Clone, Copy)]
pub struct RgbImage<'a> {
    pub width: usize,
    pub height: usize,
    pub data: &'a [f32],
}

const WINDOW: usize = 11;
const SIGMA: f64 = 1.5;

fn check(a: &RgbImage, b: &RgbImage) -> Result<(), MetricsError> {
    let expected = a.width * a.height * 3;
    for (name, img) in [("a", a), ("b", b)] {
        let want = if name == "a" { expected } else { a.width * a.height * 3 };
        if img.data.len() != want || img.width != a.width || img.height != a.height {
            return Err(MetricsError::Size { name, expected: want, found: img.data.len() });
        }
        if let Some(index) = img.data.iter().position(|v| !v.is_finite()) {
            return Err(MetricsError::NonFinite { name, index });
        }
    }
    Ok(())
}

/// Peak signal-to-noise ratio in dB for data range 1.
pub fn psnr(a: &RgbImage, b: &RgbImage) -> Result<f64, MetricsError> {
    check(a, b)?;
    if a.data.is_empty() {
        return Ok(f64::INFINITY);
    }
    let mse =
        a.data.iter().zip(b.data).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum::<f64>() / a.data.len() as f64;
    Ok(if mse == 0.0 { f64::INFINITY } else { 10.0 * (1.0 / mse).log10() })
}

fn gaussian_window() -> [f64; WINDOW] {
    let mut w = [0.0; WINDOW];
    let c = (WINDOW / 2) as f64;
    for (i, v) in w.iter_mut().enumerate() {
        let x = i as f64 - c;
        *v = (-x * x / (2.0 * SIGMA * SIGMA)).exp();
    }
    let s: f64 = w.iter().sum();
    w.map(|v| v / s)
}

/// Valid-mode separable filtering of one plane (`w × h` → `(w − 10) × (h − 10)`).
fn filter_valid(plane: &[f64], w: usize, h: usize, k: &[f64; WINDOW]) -> Vec<f64> {
    let ow = w - WINDOW + 1;
    let oh = h - WINDOW + 1;
    let mut tmp = vec![0.0; ow * h];
    for y in 0..h {
        let row = &plane[y * w..(y + 1) * w];
        for x in 0..ow {
            tmp[y * ow + x] = k.iter().zip(&row[x..x + WINDOW]).map(|(a, b)| a * b).sum();
        }
    }
    let mut out = vec![0.0; ow * oh];
    for y in 0..oh {
        for x in 0..ow {
            out[y * ow + x] = (0..WINDOW).map(|i| k[i] * tmp[(y + i) * ow + x]).sum();
        }
    }
    out
}

/// Mean structural similarity (see the module header for the exact variant).
pub fn ssim(a: &RgbImage, b: &RgbImage) -> Result<f64, MetricsError> {
    check(a, b)?;
    let (w, h) = (a.width, a.height);
    if w < WINDOW || h < WINDOW {
        return Err(MetricsError::TooSmall { width: w, height: h });
    }
    let k = gaussian_window();
    let (c1, c2) = ((0.01f64).powi(2), (0.03f64).powi(2));
    let mut total = 0.0;
    for ch in 0..3 {
        let pa: Vec<f64> = (0..w * h).map(|i| a.data[i * 3 + ch] as f64).collect();
        let pb: Vec<f64> = (0..w * h).map(|i| b.data[i * 3 + ch] as f64).collect();
        let prod = |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(x, y)| x * y).collect::<Vec<_>>();
        let mu_a = filter_valid(&pa, w, h, &k);
        let mu_b = filter_valid(&pb, w, h, &k);
        let aa = filter_valid(&prod(&pa, &pa), w, h, &k);
        let bb = filter_valid(&prod(&pb, &pb), w, h, &k);
        let ab = filter_valid(&prod(&pa, &pb), w, h, &k);
        let n = mu_a.len();
        let mut sum = 0.0;
        for i in 0..n {
            let (ma, mb) = (mu_a[i], mu_b[i]);
            let (va, vb, cov) = (aa[i] - ma * ma, bb[i] - mb * mb, ab[i] - ma * mb);
            sum += ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
        }
        total += sum / n as f64;
    }
    Ok(total / 3.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use worldflow_base::rng::SplitMix64;

    fn noise(w: usize, h: usize, seed: u64) -> Vec<f32> {
        let mut r = SplitMix64::new(seed);
        (0..w * h * 3).map(|_| r.next_f32()).collect()
    }

    fn img(w: usize, h: usize, data: &[f32]) -> RgbImage<'_> {
        RgbImage { width: w, height: h, data }
    }

    #[test]
    fn psnr_of_a_uniform_offset_is_known() {
        let a = vec![0.5f32; 16 * 16 * 3];
        let b = vec![0.6f32; 16 * 16 * 3];
        let p = psnr(&img(16, 16, &a), &img(16, 16, &b)).unwrap();
        assert!((p - 20.0).abs() < 1e-4, "{p}"); // MSE 0.01 → 20 dB
        assert_eq!(psnr(&img(16, 16, &a), &img(16, 16, &a)).unwrap(), f64::INFINITY);
    }

    #[test]
    fn ssim_is_one_for_identical_and_matches_a_direct_window_sum() {
        let (w, h) = (24, 17);
        let a = noise(w, h, 1);
        let b: Vec<f32> = a.iter().zip(noise(w, h, 2)).map(|(x, n)| 0.7 * x + 0.3 * n).collect();
        assert!((ssim(&img(w, h, &a), &img(w, h, &a)).unwrap() - 1.0).abs() < 1e-9);
        let fast = ssim(&img(w, h, &a), &img(w, h, &b)).unwrap();
        // Direct (non-separable) reference of the same definition.
        let k = gaussian_window();
        let mut total = 0.0;
        for ch in 0..3 {
            let mut sum = 0.0;
            let mut n = 0;
            for y in 0..=h - WINDOW {
                for x in 0..=w - WINDOW {
                    let (mut ma, mut mb, mut aa, mut bb, mut ab) = (0.0, 0.0, 0.0, 0.0, 0.0);
                    for j in 0..WINDOW {
                        for i in 0..WINDOW {
                            let wt = k[i] * k[j];
                            let p = ((y + j) * w + x + i) * 3 + ch;
                            let (va, vb) = (a[p] as f64, b[p] as f64);
                            ma += wt * va;
                            mb += wt * vb;
                            aa += wt * va * va;
                            bb += wt * vb * vb;
                            ab += wt * va * vb;
                        }
                    }
                    let (c1, c2) = (1e-4, 9e-4);
                    sum += ((2.0 * ma * mb + c1) * (2.0 * (ab - ma * mb) + c2))
                        / ((ma * ma + mb * mb + c1) * (aa - ma * ma + bb - mb * mb + c2));
                    n += 1;
                }
            }
            total += sum / n as f64;
        }
        assert!((fast - total / 3.0).abs() < 1e-9, "{fast} vs {}", total / 3.0);
        assert!(fast > 0.3 && fast < 0.95, "{fast}");
    }

    #[test]
    fn bad_images_are_errors() {
        let a = vec![0.0f32; 12 * 12 * 3];
        let short = vec![0.0f32; 10];
        assert!(matches!(psnr(&img(12, 12, &a), &img(12, 12, &short)), Err(MetricsError::Size { name: "b", .. })));
        let small = vec![0.0f32; 5 * 5 * 3];
        assert!(matches!(ssim(&img(5, 5, &small), &img(5, 5, &small)), Err(MetricsError::TooSmall { .. })));
        let mut nan = a.clone();
        nan[7] = f32::NAN;
        assert!(matches!(
            psnr(&img(12, 12, &nan), &img(12, 12, &a)),
            Err(MetricsError::NonFinite { name: "a", index: 7 })
        ));
    }
}
