//! The `.mcap` file being written: every write goes straight to the OS (no user-space buffer, so what was
//! written survives the process being killed), and is counted (the file offset) and hashed (the CRC-32 of
//! the data section, which the DataEnd record carries).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Rosbag2Error;

pub(crate) struct Sink {
    path: PathBuf,
    file: File,
    /// Bytes written so far: the file offset of the next byte.
    position: u64,
    /// CRC-32 of every byte written so far.
    crc: crc32fast::Hasher,
}

impl Sink {
    /// Creates `path`, which must not exist.
    pub(crate) fn create_new(path: &Path) -> Result<Self, Rosbag2Error> {
        let file = File::create_new(path).map_err(|source| Rosbag2Error::Io {
            path: path.to_owned(),
            doing: "create the bag file".to_owned(),
            source,
        })?;
        Ok(Self { path: path.to_owned(), file, position: 0, crc: crc32fast::Hasher::new() })
    }

    /// The `.mcap` file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The file offset the next byte is written at.
    pub(crate) fn position(&self) -> u64 {
        self.position
    }

    /// The CRC-32 state of every byte written so far (to be continued with bytes not yet written).
    pub(crate) fn crc(&self) -> crc32fast::Hasher {
        self.crc.clone()
    }

    /// Writes `bytes` at the end of the file; `what` names them in an error (e.g. `the chunk`).
    pub(crate) fn write(&mut self, bytes: &[u8], what: &str) -> Result<(), Rosbag2Error> {
        self.file.write_all(bytes).map_err(|source| Rosbag2Error::Io {
            path: self.path.clone(),
            doing: format!("write {what} at byte {}", self.position),
            source,
        })?;
        self.crc.update(bytes);
        self.position += bytes.len() as u64;
        Ok(())
    }

    /// Asks the OS to put the file on disk (at the end of the bag).
    pub(crate) fn sync(&mut self) -> Result<(), Rosbag2Error> {
        self.file.sync_all().map_err(|source| Rosbag2Error::Io {
            path: self.path.clone(),
            doing: "sync the bag file to disk".to_owned(),
            source,
        })
    }
}
