//! [`Rosbag2Reader`] / [`read_bag`]: the messages of a rosbag2 bag in MCAP storage, in log-time order.
//!
//! Each file is read front to back (a linear read: the summary indexes are not needed), so a file whose
//! writer was killed — no summary, no footer — is read up to its last complete record. What is checked, with
//! an error naming the file, the byte offset and what was expected: the magic at both ends, a Header first,
//! every record's length against the file, the fields of Schema / Channel / Message / Chunk / Footer records,
//! channels and schemas defined before use, the message encoding (`cdr`), chunk sizes and CRCs, the
//! data-section CRC (DataEnd) and the summary CRC (Footer) when the writer stored them. Compressed chunks are
//! refused with a clear error; records this reader does not need (indexes, attachments, metadata) are skipped.

use std::path::{Path, PathBuf};

use crate::bag::{Bag, BagMessage};
use crate::metadata::{bag_files, METADATA_FILE};
use crate::scan::FileScan;
use crate::Rosbag2Error;

/// A rosbag2 bag (a directory with `metadata.yaml` and `.mcap` files) or one `.mcap` file, to read.
#[derive(Debug, Clone)]
pub struct Rosbag2Reader {
    files: Vec<PathBuf>,
}

impl Rosbag2Reader {
    /// Finds the files of the bag at `path`: a directory's `metadata.yaml` lists them (without one — an
    /// unfinished recording — every `*.mcap` in it, by name); a file is read as one `.mcap` file.
    pub fn open(path: &Path) -> Result<Self, Rosbag2Error> {
        let files = if path.is_dir() {
            if path.join(METADATA_FILE).exists() {
                bag_files(path)?
            } else {
                mcap_files_in(path)?
            }
        } else if path.is_file() {
            vec![path.to_owned()]
        } else {
            return Err(Rosbag2Error::BadPath {
                path: path.to_owned(),
                expected: "does not exist: expected a rosbag2 bag directory or an .mcap file",
            });
        };
        Ok(Self { files })
    }

    /// The `.mcap` files, in reading order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Reads every file; keeps the messages of the topics for which `keep(topic)` is true.
    pub fn read(&self, keep: impl Fn(&str) -> bool) -> Result<Bag, Rosbag2Error> {
        let mut bag = Bag { topics: Vec::new(), messages: Vec::new() };
        for path in &self.files {
            FileScan::new(path, &keep, &mut bag)?.run()?;
        }
        bag.messages.sort_by_key(|m| m.log_time_ns); // stable: equal times keep their file order
        Ok(bag)
    }
}

/// Every message of the bag at `path` (a bag directory or an `.mcap` file), in log-time order.
pub fn read_bag(path: &Path) -> Result<Vec<BagMessage>, Rosbag2Error> {
    Ok(Rosbag2Reader::open(path)?.read(|_| true)?.messages)
}

fn mcap_files_in(dir: &Path) -> Result<Vec<PathBuf>, Rosbag2Error> {
    let io = |source| Rosbag2Error::Io { path: dir.to_owned(), doing: "list the bag directory".to_owned(), source };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|e| e == "mcap") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Rosbag2Error::BadPath {
            path: dir.to_owned(),
            expected: "has neither metadata.yaml nor .mcap files: expected a rosbag2 bag directory",
        });
    }
    Ok(files)
}
