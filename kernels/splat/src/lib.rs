//! 3D Gaussian splatting: CPU rasterizer and scene I/O (.ply, .splat).
