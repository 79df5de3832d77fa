//! The optimised renderer: parallel projection, radix sort by depth, counting-sort binning into 16×16
//! tiles, parallel blending over tile rows.
//!
//! Invariants: all scratch buffers live in [`Renderer`] and are reused, so a steady-state frame (same
//! scene size and image size) performs no allocation; the result does not depend on the rayon thread
//! count (every float is computed by exactly one task, in a fixed order).

use rayon::prelude::*;
use worldflow_protocol::{Camera, Gaussians};

use crate::bin::{bin_tiles, count_instances, BinScratch};
use crate::blend::{blend_tile, Target, TileFrame};
use crate::error::SplatError;
use crate::ground::background_image;
use crate::image::Image;
use crate::options::{RenderOptions, TILE_SIZE};
use crate::project::{Fate, ProjectCtx, Projected, Splat2D};
use crate::sort::radix_sort_pairs;
use crate::tile_splat::SplatBlend;
use worldflow_base::DisjointWriter;

mod many;
mod slabs;

/// Counts of one frame. `input == invalid + culled + visible`. With an [`crate::IndexedScene`] the
/// Gaussians its index skips count as culled; they are exactly ones the projection would have culled, so the
/// counts equal those of rendering without the index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderStats {
    pub input: usize,
    /// Degenerate Gaussians dropped (non-finite values, zero quaternion, non-positive scale, overflow).
    pub invalid: usize,
    /// Legitimately not drawn (near plane, off screen, opacity < 1/255, or no pixel centre inside the
    /// region where α ≥ 1/255 — fewer than the reference's 3σ rectangle would show as visible).
    pub culled: usize,
    pub visible: usize,
    /// Sum over tiles of the Gaussians binned into them.
    pub tile_instances: usize,
}

/// The most memory one frame's image and tile lists may take (bytes). A frame over it (a huge camera, or
/// very many Gaussians each covering most of a large image) is refused with an error instead of allocating
/// many gigabytes; 2 GiB holds an 8192² image with 160 million tile instances.
pub const MAX_FRAME_BYTES: u64 = 2 << 30;

/// Bytes of a frame's image (f32 RGB), per-chunk tile counters, tile offsets and tile list.
fn frame_bytes(width: u32, height: u32, n_tiles: u64, tile_instances: u64) -> u64 {
    let pixels = u64::from(width) * u64::from(height);
    pixels * 12 + n_tiles * (4 * crate::bin::BIN_CHUNKS as u64 + 4) + tile_instances * 4
}

const PROJECT_CHUNK: usize = 2048;
const GATHER_CHUNK: usize = 8192;

/// A reusable renderer: create once, call [`Renderer::render`] every frame.
#[derive(Debug, Default)]
pub struct Renderer {
    options: RenderOptions,
    projected: Vec<Splat2D>,
    status: Vec<Fate>,
    depth_keys: Vec<u32>,
    order: Vec<u32>,
    scratch_keys: Vec<u32>,
    scratch_order: Vec<u32>,
    sorted_rects: Vec<[u32; 4]>,
    sorted_splats: Vec<SplatBlend>,
    tile_offsets: Vec<u32>,
    tile_list: Vec<u32>,
    /// Per projection chunk: its `[visible, culled, invalid]` counts.
    chunk_counts: Vec<[u32; 3]>,
    bin_scratch: BinScratch,
    /// Each pixel's background when the options have a ground plane.
    background_image: Vec<f32>,
    /// The current camera's candidate Gaussians (indexed scenes) and the bitmap that collects them.
    candidates: Vec<u32>,
    marks: Vec<u64>,
    /// Renderers of [`Renderer::render_many`]'s parallel cameras.
    workers: Vec<Renderer>,
    /// Depth-slab rendering (`slabs`): per-pixel blend state `[±T, R, G, B]`, finished tiles, the leaves a
    /// camera may see, Gaussians carried to a later slab.
    state: Vec<f32>,
    tile_flags: Vec<u8>,
    leaf_views: Vec<(u8, crate::index::LeafView)>,
    leaf_scratch: Vec<crate::index::LeafView>,
    carry: Vec<u32>,
    next_carry: Vec<u32>,
    /// Render every frame on the calling thread (a worker of [`Renderer::render_many`]: the parallelism is
    /// across cameras).
    serial: bool,
}

/// The Gaussians a projection chunk covers: `base..` of the set, or a list of indices.
#[derive(Clone, Copy)]
enum Indices<'a> {
    From(usize),
    List(&'a [u32]),
}

impl Indices<'_> {
    #[inline(always)]
    fn get(self, j: usize) -> usize {
        match self {
            Indices::From(base) => base + j,
            Indices::List(list) => list[j] as usize,
        }
    }
}

/// Projects Gaussians `ids.get(0..out.len())` into `out`, their outcome into `status`.
fn project_chunk(ctx: &ProjectCtx, g: &Gaussians, ids: Indices, out: &mut [Splat2D], status: &mut [Fate]) {
    #[cfg(target_arch = "x86_64")]
    {
        if worldflow_base::cpu::has_avx2() {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { project_chunk_avx2(ctx, g, ids, out, status) };
            return;
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if worldflow_base::cpu::has_neon() {
            // SAFETY: the CPU supports NEON (checked just above).
            unsafe { project_chunk_neon(ctx, g, ids, out, status) };
            return;
        }
    }
    project_chunk_impl(ctx, g, ids, 0, out, status);
}

/// [`ProjectCtx::project4_at`] (NEON, 4 lanes) over the whole groups of 4, the scalar projection for the
/// rest and for the modes it does not cover; bit-identical to [`project_chunk_impl`] either way.
///
/// # Safety
/// The CPU must support NEON.
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn project_chunk_neon(ctx: &ProjectCtx, g: &Gaussians, ids: Indices, out: &mut [Splat2D], status: &mut [Fate]) {
    const L: usize = 4;
    if !ctx.has_wide_projection() {
        project_chunk_impl(ctx, g, ids, 0, out, status);
        return;
    }
    let whole = out.len() / L * L;
    let (out4, out_tail) = out.split_at_mut(whole);
    let (status4, status_tail) = status.split_at_mut(whole);
    for (c, (o, st)) in out4.chunks_exact_mut(L).zip(status4.chunks_exact_mut(L)).enumerate() {
        st.copy_from_slice(&ctx.project4_at(g, std::array::from_fn(|l| ids.get(L * c + l)), o));
    }
    project_chunk_impl(ctx, g, ids, whole, out_tail, status_tail);
}

/// The same code compiled with AVX2 (single-instruction `ceil`/`floor`/`round`, wider moves). Rust never
/// fuses `a·b + c`, so the results are those of the baseline build.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn project_chunk_avx2(ctx: &ProjectCtx, g: &Gaussians, ids: Indices, out: &mut [Splat2D], status: &mut [Fate]) {
    if !ctx.has_wide_projection() {
        project_chunk_impl(ctx, g, ids, 0, out, status);
        return;
    }
    let whole = out.len() / 8 * 8;
    let (out8, out_tail) = out.split_at_mut(whole);
    let (status8, status_tail) = status.split_at_mut(whole);
    for (c, (o, st)) in out8.chunks_exact_mut(8).zip(status8.chunks_exact_mut(8)).enumerate() {
        st.copy_from_slice(&ctx.project8_at(g, std::array::from_fn(|l| ids.get(8 * c + l)), o));
    }
    project_chunk_impl(ctx, g, ids, whole, out_tail, status_tail);
}

/// Stores a visible Gaussian's record; returns its fate.
#[inline(always)]
fn record(p: Projected, out: &mut Splat2D) -> Fate {
    match p {
        Projected::Visible(s) => {
            *out = s;
            Fate::Visible
        }
        Projected::Culled => Fate::Culled,
        Projected::Invalid => Fate::Invalid,
    }
}

/// Projects `ids.get(skip + j)` into `out[j]`.
#[inline(always)]
fn project_chunk_impl(
    ctx: &ProjectCtx,
    g: &Gaussians,
    ids: Indices,
    skip: usize,
    out: &mut [Splat2D],
    status: &mut [Fate],
) {
    for (j, (o, st)) in out.iter_mut().zip(status.iter_mut()).enumerate() {
        *st = record(ctx.project(g, ids.get(skip + j)), o);
    }
}

/// Checks what cannot be rendered at all; returns the SH degree to use.
pub(crate) fn validate_inputs(g: &Gaussians, camera: &Camera, options: &RenderOptions) -> Result<u8, SplatError> {
    g.validate()?;
    camera.validate()?;
    if !options.background.iter().all(|v| v.is_finite()) {
        return Err(SplatError::InvalidInput {
            what: "render options",
            message: format!("background: expected finite values, found {:?}", options.background),
        });
    }
    if let Some(ground) = &options.ground {
        ground.validate()?;
    }
    if g.len() > u32::MAX as usize - 1 {
        return Err(SplatError::InvalidInput { what: "Gaussians", message: format!("{} is too many", g.len()) });
    }
    Ok(options.sh_degree.unwrap_or(g.sh_degree).min(g.sh_degree))
}

impl Renderer {
    /// Fills each pixel's background for `camera` when the options have a ground plane.
    fn prepare_background(&mut self, camera: &Camera) {
        if let Some(ground) = &self.options.ground {
            background_image(camera, self.options.background, ground, &mut self.background_image);
        }
    }

    pub fn new(options: RenderOptions) -> Self {
        Self { options, ..Default::default() }
    }

    pub fn options(&self) -> &RenderOptions {
        &self.options
    }

    pub fn set_options(&mut self, options: RenderOptions) {
        self.options = options;
    }

    /// Renders `gaussians` seen by `camera` into `image` (resized to the camera's size).
    pub fn render(
        &mut self,
        gaussians: &Gaussians,
        camera: &Camera,
        image: &mut Image,
    ) -> Result<RenderStats, SplatError> {
        self.render_subset(gaussians, None, camera, image)
    }

    /// [`Renderer::render`] of the Gaussians `subset` (ascending indices; `None`: all) of `gaussians`;
    /// the others count as culled.
    fn render_subset(
        &mut self,
        gaussians: &Gaussians,
        subset: Option<&[u32]>,
        camera: &Camera,
        image: &mut Image,
    ) -> Result<RenderStats, SplatError> {
        let sh_degree = validate_inputs(gaussians, camera, &self.options)?;
        let opts = self.options;
        let ctx = ProjectCtx::new(camera, opts.depth_cull(), opts.antialiased, sh_degree);
        // rayon's `with_min_len` of every parallel loop (`usize::MAX`: one job, on this thread).
        let min_len = if self.serial { usize::MAX } else { 1 };
        let n = subset.map_or(gaussians.len(), <[u32]>::len);
        self.project_list(&ctx, gaussians, subset, min_len);
        // 2. Visible Gaussians in index order (a parallel compaction: per-chunk counts, their prefix sum,
        //    then each chunk writes its own range), then a stable sort by depth (positive f32 bits sort as
        //    u32).
        let n_chunks = n.div_ceil(PROJECT_CHUNK);
        self.chunk_counts.resize(n_chunks, [0; 3]);
        let chunks = self.chunk_counts.par_iter_mut().zip(self.status.par_chunks(PROJECT_CHUNK));
        chunks.with_min_len(min_len).for_each(|(count, status)| {
            *count = [0; 3];
            for &st in status {
                count[st as usize] += 1;
            }
        });
        // Gaussians outside the subset are culled (see `RenderStats`).
        let mut stats = RenderStats { input: gaussians.len(), culled: gaussians.len() - n, ..Default::default() };
        for count in &mut self.chunk_counts {
            let visible_before = stats.visible as u32;
            stats.visible += count[Fate::Visible as usize] as usize;
            stats.culled += count[Fate::Culled as usize] as usize;
            stats.invalid += count[Fate::Invalid as usize] as usize;
            count[Fate::Visible as usize] = visible_before; // now the chunk's first output slot
        }
        self.depth_keys.resize(stats.visible, 0);
        self.order.resize(stats.visible, 0);
        let keys_out = DisjointWriter::new(&mut self.depth_keys);
        let order_out = DisjointWriter::new(&mut self.order);
        let projected = &self.projected;
        self.status
            .par_chunks(PROJECT_CHUNK)
            .zip(self.chunk_counts.par_iter())
            .enumerate()
            .with_min_len(min_len)
            .for_each(|(chunk, (status, count))| {
                let mut slot = count[Fate::Visible as usize] as usize;
                for (j, &st) in status.iter().enumerate() {
                    if st == Fate::Visible {
                        let i = chunk * PROJECT_CHUNK + j;
                        // SAFETY: chunk `c` writes slots `first_c .. first_c + visible_c`, disjoint from
                        // every other chunk's.
                        unsafe {
                            keys_out.write(slot, projected[i].depth_m.to_bits());
                            order_out.write(slot, i as u32);
                        }
                        slot += 1;
                    }
                }
            });
        self.sort_and_bin(&ctx, camera, min_len)?;
        stats.tile_instances = self.tile_list.len();

        // 4. Blend, parallel over tile rows (each owns a disjoint band of the image).
        image.resize(camera.width, camera.height);
        self.prepare_background(camera);
        let frame = TileFrame::new(camera, &opts, &self.background_image);
        let band = TILE_SIZE as usize * camera.width as usize * 3;
        let (offsets, list, splats) = (&self.tile_offsets, &self.tile_list, &self.sorted_splats);
        let tiles_x = ctx.tiles_x;
        image.data.par_chunks_mut(band).enumerate().with_min_len(min_len).for_each(|(tile_y, out)| {
            for tile_x in 0..tiles_x {
                let t = tile_y * tiles_x as usize + tile_x as usize;
                let tile_list = &list[offsets[t] as usize..offsets[t + 1] as usize];
                blend_tile(&frame, tile_x, tile_y as u32, tile_list, splats, Target::Image(out));
            }
        });
        Ok(stats)
    }
}

impl Renderer {
    /// Projects the Gaussians `subset` (ascending indices; `None`: all) of `gaussians` into `projected` and
    /// `status` (parallel, each writes only its own slot: slot `j` holds the subset's `j`-th Gaussian, so
    /// slots are in index order either way).
    fn project_list(&mut self, ctx: &ProjectCtx, gaussians: &Gaussians, subset: Option<&[u32]>, min_len: usize) {
        let n = subset.map_or(gaussians.len(), <[u32]>::len);
        self.projected.resize(n, Splat2D::default());
        self.status.resize(n, Fate::Culled);
        let chunks = self.projected.par_chunks_mut(PROJECT_CHUNK).zip(self.status.par_chunks_mut(PROJECT_CHUNK));
        chunks.enumerate().with_min_len(min_len).for_each(|(chunk, (out, status))| {
            let first = chunk * PROJECT_CHUNK;
            let ids = match subset {
                None => Indices::From(first),
                Some(list) => Indices::List(&list[first..first + out.len()]),
            };
            project_chunk(ctx, gaussians, ids, out, status)
        });
    }

    /// Sorts `depth_keys`/`order` (slots of `projected`) by depth (stable), gathers their blend records in
    /// that order and bins them into tiles (`tile_offsets`, `tile_list`); refuses a frame over the budget.
    fn sort_and_bin(&mut self, ctx: &ProjectCtx, camera: &Camera, min_len: usize) -> Result<(), SplatError> {
        radix_sort_pairs(&mut self.depth_keys, &mut self.order, &mut self.scratch_keys, &mut self.scratch_order);
        // 3. Gather blend data in depth order (parallel), bin into tiles.
        let visible = self.order.len();
        self.sorted_rects.resize(visible, [0; 4]);
        self.sorted_splats.resize(visible, SplatBlend::default());
        let projected = &self.projected;
        self.sorted_splats
            .par_chunks_mut(GATHER_CHUNK)
            .zip(self.sorted_rects.par_chunks_mut(GATHER_CHUNK))
            .zip(self.order.par_chunks(GATHER_CHUNK))
            .with_min_len(min_len)
            .for_each(|((splats, rects), order)| {
                for ((blend, rect), &i) in splats.iter_mut().zip(rects.iter_mut()).zip(order) {
                    let s = &projected[i as usize];
                    *rect = [s.tile_x0, s.tile_y0, s.tile_x1, s.tile_y1];
                    *blend = SplatBlend::new(s);
                }
            });
        let n_tiles = (ctx.tiles_x * ctx.tiles_y) as usize;
        let instances = count_instances(&self.sorted_rects, min_len);
        let bytes = frame_bytes(camera.width, camera.height, n_tiles as u64, instances);
        if bytes > MAX_FRAME_BYTES || instances >= u64::from(u32::MAX) {
            return Err(SplatError::InvalidInput {
                what: "frame",
                message: format!(
                    "a {}×{} image with {} visible Gaussians covering {instances} tile slots needs {:.1} GiB, more than the {} GiB budget (lower the resolution, or drop the Gaussians that cover the whole frame)",
                    camera.width,
                    camera.height,
                    visible,
                    bytes as f64 / f64::from(1u32 << 30),
                    MAX_FRAME_BYTES >> 30
                ),
            });
        }
        bin_tiles(
            &self.sorted_rects,
            ctx.tiles_x,
            n_tiles,
            &mut self.tile_offsets,
            &mut self.tile_list,
            &mut self.bin_scratch,
            min_len,
        );
        Ok(())
    }
}
