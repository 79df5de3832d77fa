//! Rendering an [`IndexedScene`]: one camera ([`Renderer::render_indexed`]) or many at once
//! ([`Renderer::render_many`]: one index walk per camera, cameras rendered in parallel).
//!
//! Invariants: each camera's image is that of [`Renderer::render`] of the scene's Gaussians, bit for bit
//! (the frustum index skips only Gaussians the projection would cull, candidates keep index order, and
//! occlusion culling skips only what cannot change a terminated pixel; see `slabs`); its counts are equal
//! too with frustum culling only. A camera's result does not depend on which worker renders it, nor on the
//! thread count.

use std::sync::Mutex;

use rayon::prelude::*;
use worldflow_protocol::Camera;

use super::{RenderStats, Renderer};
use crate::error::SplatError;
use crate::image::Image;
use crate::indexed_scene::IndexedScene;

impl Renderer {
    /// Renders `scene` seen by `camera` into `image`, projecting only the Gaussians its index selects (and,
    /// with [`IndexedScene::occlusion`], front to back in depth slabs that skip what finished tiles hide).
    pub fn render_indexed(
        &mut self,
        scene: &IndexedScene,
        camera: &Camera,
        image: &mut Image,
    ) -> Result<RenderStats, SplatError> {
        if scene.occlusion() {
            if let Some(stats) = self.render_slabs(scene, camera, image)? {
                return Ok(stats);
            }
        }
        let mut candidates = std::mem::take(&mut self.candidates);
        let subset = scene.candidates(camera, self.options.depth_cull(), &mut self.marks, &mut candidates);
        let result = self.render_subset(scene.gaussians(), subset.then_some(candidates.as_slice()), camera, image);
        self.candidates = candidates;
        result
    }

    /// Renders `scene` seen by every camera of `cameras` into the image of the same position (`images`
    /// has one per camera; each is resized to its camera). With several cameras and threads, the cameras
    /// render in parallel, each on its own worker (better than splitting a small image's few tile rows);
    /// the result is the same as rendering them one by one.
    pub fn render_many(
        &mut self,
        scene: &IndexedScene,
        cameras: &[Camera],
        images: &mut [Image],
    ) -> Result<Vec<RenderStats>, SplatError> {
        if images.len() != cameras.len() {
            return Err(SplatError::InvalidInput {
                what: "render_many",
                message: format!("{} cameras but {} images", cameras.len(), images.len()),
            });
        }
        if cameras.len() <= 1 || rayon::current_num_threads() <= 1 {
            return cameras.iter().zip(images.iter_mut()).map(|(c, im)| self.render_indexed(scene, c, im)).collect();
        }
        // Workers are taken from a pool per camera (so an expensive camera does not hold up a fixed group)
        // and returned; the pool grows to the number of cameras rendering at once and is kept.
        let pool = Mutex::new(std::mem::take(&mut self.workers));
        let options = self.options;
        let results: Vec<Result<RenderStats, SplatError>> = cameras
            .par_iter()
            .zip(images.par_iter_mut())
            .with_max_len(1)
            .map(|(camera, image)| {
                let taken = pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
                let mut worker = taken.unwrap_or_default();
                worker.set_options(options);
                worker.serial = true;
                let result = worker.render_indexed(scene, camera, image);
                pool.lock().unwrap_or_else(|e| e.into_inner()).push(worker);
                result
            })
            .collect();
        self.workers = pool.into_inner().unwrap_or_else(|e| e.into_inner());
        results.into_iter().collect()
    }
}
