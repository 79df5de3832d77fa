//! Debug views of the Actor's Gaussians without a splat renderer: a top-down orthographic map and the
//! standard rig's front camera, both drawn as z-buffered discs of each Gaussian's DC colour (not a real
//! splat rendering — for eyeballing layout and appearance). Writes binary PPM files.
//!
//! `cargo run --release -p worldflow-world --example world_snapshot -- OUT_DIR [ticks]`

use std::io::Write;

use glam::Vec3;
use worldflow_protocol::{Gaussians, SH_C0};
use worldflow_world::{Actor, ActorConfig, Director, ProceduralDirector, Rig, Scenario};

fn colour(g: &Gaussians, i: usize) -> [u8; 3] {
    let dc = g.sh_of(i)[0];
    dc.map(|c| ((0.5 + SH_C0 * c).clamp(0.0, 1.0) * 255.0) as u8)
}

fn write_ppm(path: &std::path::Path, w: usize, h: usize, rgb: &[[u8; 3]]) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    write!(f, "P6\n{w} {h}\n255\n")?;
    for p in rgb {
        f.write_all(p)?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let out_dir = std::path::PathBuf::from(args.get(1).map_or("/tmp", String::as_str));
    let ticks: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(48);
    let scenario = Scenario::default();
    let (mut director, out0) = ProceduralDirector::new_with_output(&scenario)?;
    let mut actor = Actor::new(ActorConfig { seed: scenario.seed, ..Default::default() }, director.grid())?;
    actor.step(director.grid(), &out0)?;
    for _ in 0..ticks {
        let out = director.step(1.0 / 24.0, &[])?;
        actor.step(director.grid(), &out)?;
    }
    let g = actor.gaussians();

    // Top-down: 4 px per metre, highest Gaussian wins.
    let (ex, ey) = scenario.extent_m();
    let ppm = 4.0;
    let (w, h) = ((ex * ppm) as usize, (ey * ppm) as usize);
    let mut img = vec![[0u8; 3]; w * h];
    let mut top = vec![f32::NEG_INFINITY; w * h];
    for i in 0..g.len() {
        let m = g.means[i];
        let r = (g.scales[i].x.max(g.scales[i].y) * ppm).ceil() as i64;
        let (cx, cy) = ((m.x * ppm) as i64, ((ey - m.y) * ppm) as i64);
        for y in cy - r..=cy + r {
            for x in cx - r..=cx + r {
                if x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h && m.z > top[y as usize * w + x as usize] {
                    top[y as usize * w + x as usize] = m.z;
                    img[y as usize * w + x as usize] = colour(g, i);
                }
            }
        }
    }
    write_ppm(&out_dir.join("top.ppm"), w, h, &img)?;

    // Front camera of the first ego's spawn.
    let e = &scenario.egos[0];
    let world_from_base = glam::Mat4::from_rotation_translation(
        glam::Quat::from_rotation_z(e.yaw_deg.to_radians()),
        Vec3::new(e.x_m, e.y_m, e.z_m),
    );
    let cam = Rig::standard(640, 360).cameras(&world_from_base)[0];
    let (w, h) = (cam.width as usize, cam.height as usize);
    let mut img = vec![[135u8, 180, 230]; w * h];
    let mut depth = vec![f32::INFINITY; w * h];
    let k = cam.intrinsics;
    for i in 0..g.len() {
        let p = cam.camera_from_world.transform_point3(g.means[i]);
        if p.z < 0.2 {
            continue;
        }
        let (u, v) = (k.fx * p.x / p.z + k.cx, k.fy * p.y / p.z + k.cy);
        let r = (1.5 * g.scales[i].max_element() * k.fx / p.z).clamp(0.5, 40.0);
        let ri = r.ceil() as i64;
        for y in v as i64 - ri..=v as i64 + ri {
            for x in u as i64 - ri..=u as i64 + ri {
                if x < 0 || y < 0 || x as usize >= w || y as usize >= h {
                    continue;
                }
                if ((x as f32 - u).powi(2) + (y as f32 - v).powi(2)) > r * r {
                    continue;
                }
                let j = y as usize * w + x as usize;
                if p.z < depth[j] {
                    depth[j] = p.z;
                    img[j] = colour(g, i);
                }
            }
        }
    }
    write_ppm(&out_dir.join("front.ppm"), w, h, &img)?;
    println!("wrote {}/top.ppm and front.ppm ({} Gaussians)", out_dir.display(), g.len());
    Ok(())
}
