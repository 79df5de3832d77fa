//! `worldflow render`: render a Gaussian-splat scene from one camera to a PNG or a float32 .npy.
//!
//! Thin glue over `worldflow-splat`: scene loading by extension (`.ply`, `.splat`, `.npz` point cloud),
//! the renderer and the .npy writer all live there.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use worldflow_splat::{load_scene, write_npy_f32, Compat, Image, PointCloudInit, RenderOptions, Renderer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompatArg {
    /// The original 3DGS (Inria) rasterizer.
    Inria,
    /// gsplat 1.5 (α clamp 0.999, opacity-aware extent, near plane 0.01).
    Gsplat,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    /// Scene: Inria .ply, antimatter15 .splat, or .npz point cloud (3DGS initialisation).
    #[arg(long)]
    pub scene: PathBuf,
    /// camera.json (OpenCV axes, camera_from_world row-major).
    #[arg(long)]
    pub camera: PathBuf,
    /// Output image: .png (8-bit, clamped) or .npy (float32 H×W×3, unclamped).
    #[arg(long)]
    pub out: PathBuf,
    /// Background colour "r,g,b" in [0, 1] units.
    #[arg(long, default_value = "0,0,0", value_parser = parse_rgb)]
    pub background: [f32; 3],
    #[arg(long, value_enum, default_value_t = CompatArg::Inria)]
    pub compat: CompatArg,
    /// Caps the SH degree used (default: the scene's).
    #[arg(long)]
    pub sh_degree: Option<u8>,
    /// Render N times and print the time per frame.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Mip/antialiased mode (opacity × √(det/det_dilated)).
    #[arg(long)]
    pub antialiased: bool,
}

/// A `--background` value that is not three finite numbers.
#[derive(Debug, thiserror::Error)]
#[error("expected three finite numbers 'r,g,b', found '{text}'")]
struct RgbError {
    text: String,
}

fn parse_rgb(text: &str) -> Result<[f32; 3], RgbError> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let values: Result<Vec<f32>, _> = parts.iter().map(|p| p.parse::<f32>()).collect();
    match values {
        Ok(v) if v.len() == 3 && v.iter().all(|x| x.is_finite()) => Ok([v[0], v[1], v[2]]),
        _ => Err(RgbError { text: text.to_owned() }),
    }
}

pub fn run(args: &RenderArgs) -> anyhow::Result<()> {
    let ext = args.out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("png") | Some("npy")) {
        bail!("{}: output must end in .png or .npy", args.out.display());
    }
    let t = Instant::now();
    let gaussians = load_scene(&args.scene, &PointCloudInit::default())?;
    println!(
        "loaded {} Gaussians (SH degree {}) in {:.3} s",
        gaussians.len(),
        gaussians.sh_degree,
        t.elapsed().as_secs_f64()
    );
    let camera = worldflow_protocol::read_camera_json(&args.camera)?;
    let options = RenderOptions {
        compat: match args.compat {
            CompatArg::Inria => Compat::Inria,
            CompatArg::Gsplat => Compat::Gsplat,
        },
        background: args.background,
        ground: None,
        sh_degree: args.sh_degree,
        antialiased: args.antialiased,
        max_depth_m: None,
    };
    let mut renderer = Renderer::new(options);
    let mut image = Image::default();
    let mut stats = renderer.render(&gaussians, &camera, &mut image)?;
    if args.repeat > 1 {
        let t = Instant::now();
        for _ in 0..args.repeat {
            stats = renderer.render(&gaussians, &camera, &mut image)?;
        }
        let per_frame = t.elapsed().as_secs_f64() / args.repeat as f64;
        println!("{:.2} ms per frame ({:.1} frames/s) over {} frames", per_frame * 1e3, 1.0 / per_frame, args.repeat);
    }
    println!(
        "{}x{}: {} visible, {} culled, {} invalid (dropped)",
        camera.width, camera.height, stats.visible, stats.culled, stats.invalid
    );
    if ext.as_deref() == Some("npy") {
        write_npy_f32(&args.out, &image)?;
    } else {
        write_png(&args.out, &image)?;
    }
    println!("wrote {}", args.out.display());
    Ok(())
}

fn write_png(path: &std::path::Path, image: &Image) -> anyhow::Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("{}: cannot create", path.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), image.width, image.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().with_context(|| format!("{}: cannot write PNG header", path.display()))?;
    writer.write_image_data(&image.to_rgb8()).with_context(|| format!("{}: cannot write PNG data", path.display()))?;
    Ok(())
}
