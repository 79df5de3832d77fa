//! Director–Actor world: semantic voxel Director (procedural town) and the Gaussian Actor.
