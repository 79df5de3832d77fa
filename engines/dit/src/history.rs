//! The generated latents a chunk generator keeps for its memory, bounded in RAM.
//!
//! A memory policy may pick any earlier latent (WorldPlay's FOV retrieval reaches back to the start of the
//! stream), so none can be thrown away; at WorldPlay's size a latent is 676 KB, ≈ 9.7 GB per hour at 4 latents
//! per second. With a RAM limit ([`LatentHistory::spill_to`]) the newest `ram_latents` stay in RAM and older
//! ones move to an unnamed spill file (created in a given folder and unlinked at once, so the system reclaims it
//! when the process ends, however it ends); a memory pick of an old latent reads it back (from the page cache,
//! usually). Actions and cameras, a few bytes each, always stay in RAM.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{DitError, Result};
use crate::prope::Camera;

/// What one generated latent was conditioned on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LatentConds {
    pub action: Option<u32>,
    pub camera: Option<Camera>,
}

#[derive(Debug)]
struct Spill {
    path: PathBuf,
    file: File,
    ram_latents: usize,
}

/// Every generated latent, in order: the newest in RAM, older ones in the spill file once a limit is set.
#[derive(Debug, Default)]
pub(crate) struct LatentHistory {
    conds: Vec<LatentConds>,
    /// The latents from index `conds.len() - ram.len()` on.
    ram: VecDeque<Vec<f32>>,
    latent_len: usize,
    spill: Option<Spill>,
}

impl LatentHistory {
    pub fn len(&self) -> usize {
        self.conds.len()
    }

    pub fn conds(&self, index: usize) -> LatentConds {
        self.conds[index]
    }

    /// Keeps at most `ram_latents` (≥ 1) latents in RAM, the older ones in a spill file in `dir`.
    pub fn spill_to(&mut self, dir: &Path, ram_latents: usize) -> Result<()> {
        if ram_latents == 0 {
            return Err(DitError::InvalidConfig("the history needs at least one latent in RAM".into()));
        }
        if self.spill.is_some() || !self.conds.is_empty() {
            return Err(DitError::InvalidConfig("the history's RAM limit is set once, before the first chunk".into()));
        }
        let path = dir.join(format!("worldflow-dit-history-{}-{:p}.f32", std::process::id(), self));
        let write_err = |source| DitError::Write { path: path.clone(), source };
        let file = File::options().create_new(true).read(true).write(true).open(&path).map_err(write_err)?;
        // Unnamed from now on: the space is freed when the file closes, even if the process is killed.
        std::fs::remove_file(&path).map_err(write_err)?;
        self.spill = Some(Spill { path, file, ram_latents });
        Ok(())
    }

    pub fn push(&mut self, latent: Vec<f32>, conds: LatentConds) -> Result<()> {
        if self.conds.is_empty() {
            self.latent_len = latent.len();
        }
        debug_assert_eq!(latent.len(), self.latent_len);
        self.conds.push(conds);
        self.ram.push_back(latent);
        let Some(spill) = &mut self.spill else { return Ok(()) };
        while self.ram.len() > spill.ram_latents {
            let oldest = self.ram.pop_front().expect("more than ram_latents ≥ 1");
            let bytes: Vec<u8> = oldest.iter().flat_map(|v| v.to_le_bytes()).collect();
            // Latents leave RAM in order, so the file grows by appending: latent i sits at i · latent bytes.
            spill.file.write_all(&bytes).map_err(|source| DitError::Write { path: spill.path.clone(), source })?;
        }
        Ok(())
    }

    /// Latent `index` [C, H, W]: borrowed from RAM, or read back from the spill file.
    pub fn latent(&self, index: usize) -> Result<Cow<'_, [f32]>> {
        let first_in_ram = self.conds.len() - self.ram.len();
        if index >= first_in_ram {
            return Ok(Cow::Borrowed(&self.ram[index - first_in_ram]));
        }
        let spill = self.spill.as_ref().expect("latents leave RAM only into the spill file");
        let read_err = |source| DitError::Io { path: spill.path.clone(), source };
        let mut bytes = vec![0u8; self.latent_len * 4];
        let mut file = &spill.file;
        file.seek(SeekFrom::Start((index * bytes.len()) as u64)).map_err(read_err)?;
        file.read_exact(&mut bytes).map_err(read_err)?;
        Ok(Cow::Owned(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()))
    }

    /// Latents held in RAM now.
    pub fn in_ram(&self) -> usize {
        self.ram.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conds(i: usize) -> LatentConds {
        LatentConds { action: Some(i as u32), camera: None }
    }

    #[test]
    fn old_latents_spill_and_read_back_exactly() {
        let mut h = LatentHistory::default();
        h.spill_to(&std::env::temp_dir(), 3).unwrap();
        let latent =
            |i: usize| (0..10).map(|j| (i * 10 + j) as f32 * 0.37 - 1.0e-3 / (j + 1) as f32).collect::<Vec<_>>();
        for i in 0..20 {
            h.push(latent(i), conds(i)).unwrap();
            assert!(h.in_ram() <= 3);
        }
        assert_eq!(h.len(), 20);
        for i in [0, 7, 16, 17, 19, 3] {
            assert_eq!(h.latent(i).unwrap().as_ref(), latent(i).as_slice(), "latent {i}");
            assert_eq!(h.conds(i).action, Some(i as u32));
        }
        assert!(matches!(h.latent(5).unwrap(), Cow::Owned(_)) && matches!(h.latent(19).unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn without_a_limit_everything_stays_in_ram_and_bad_limits_are_errors() {
        let mut h = LatentHistory::default();
        for i in 0..5 {
            h.push(vec![i as f32; 4], conds(i)).unwrap();
        }
        assert_eq!((h.len(), h.in_ram()), (5, 5));
        let e = h.spill_to(&std::env::temp_dir(), 2).unwrap_err().to_string();
        assert!(e.contains("before the first chunk"), "{e}");
        let e = LatentHistory::default().spill_to(&std::env::temp_dir(), 0).unwrap_err().to_string();
        assert!(e.contains("at least one latent"), "{e}");
        let e = LatentHistory::default().spill_to(Path::new("/nonexistent/dir"), 4).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/dir"), "{e}");
    }
}
