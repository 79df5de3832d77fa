//! Reading MCAP bytes: [`McapSource`] reads a file front to back (bounds-checked against its size, counted and
//! CRC-hashed), [`Fields`] parses one record's content. Every error names the file, the byte offset and what
//! was expected there.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::records::{op_name, RECORD_PREFIX_LEN};
use crate::Rosbag2Error;

/// A format error at `offset` of `path`.
pub(crate) fn format_error(path: &Path, offset: u64, what: String) -> Rosbag2Error {
    Rosbag2Error::Format { path: path.to_owned(), offset, what }
}

/// An `.mcap` file read from front to back.
pub(crate) struct McapSource {
    path: PathBuf,
    reader: BufReader<File>,
    /// File size, bytes.
    len: u64,
    /// Offset of the next byte to read.
    offset: u64,
    /// CRC-32 of every byte read so far.
    crc: crc32fast::Hasher,
}

/// A record's opcode, where it starts, and its content.
pub(crate) struct RawRecord {
    pub(crate) opcode: u8,
    /// File offset of the opcode.
    pub(crate) offset: u64,
    pub(crate) content: Vec<u8>,
}

impl McapSource {
    pub(crate) fn open(path: &Path) -> Result<Self, Rosbag2Error> {
        let io = |source| Rosbag2Error::Io { path: path.to_owned(), doing: "open the bag file".to_owned(), source };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        Ok(Self {
            path: path.to_owned(),
            reader: BufReader::with_capacity(1 << 20, file),
            len,
            offset: 0,
            crc: crc32fast::Hasher::new(),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Offset of the next byte.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes left in the file.
    pub(crate) fn remaining(&self) -> u64 {
        self.len - self.offset
    }

    /// The CRC-32 state of every byte read so far.
    pub(crate) fn crc(&self) -> crc32fast::Hasher {
        self.crc.clone()
    }

    /// Reads `n` bytes; `what` names them in the error when fewer remain.
    pub(crate) fn read(&mut self, n: u64, what: &dyn Fn() -> String) -> Result<Vec<u8>, Rosbag2Error> {
        if n > self.remaining() {
            return Err(format_error(
                &self.path,
                self.offset,
                format!("truncated: {} needs {n} bytes, the file has {} left", what(), self.remaining()),
            ));
        }
        let mut buf = vec![0u8; n as usize];
        self.reader.read_exact(&mut buf).map_err(|source| Rosbag2Error::Io {
            path: self.path.clone(),
            doing: format!("read {n} bytes at byte {}", self.offset),
            source,
        })?;
        self.crc.update(&buf);
        self.offset += n;
        Ok(buf)
    }

    /// Reads one record: opcode, `u64` length, content.
    pub(crate) fn record(&mut self) -> Result<RawRecord, Rosbag2Error> {
        let offset = self.offset;
        let prefix = self.read(RECORD_PREFIX_LEN, &|| "a record's opcode and length".to_owned())?;
        let opcode = prefix[0];
        let mut len_bytes = [0u8; 8];
        len_bytes.copy_from_slice(&prefix[1..9]);
        let len = u64::from_le_bytes(len_bytes);
        let content =
            self.read(len, &|| format!("the {} record (opcode 0x{opcode:02x}) at byte {offset}", op_name(opcode)))?;
        Ok(RawRecord { opcode, offset, content })
    }
}

/// The fields of one record's content, parsed in order.
pub(crate) struct Fields<'a> {
    path: &'a Path,
    /// The record's name, for errors.
    record: &'static str,
    bytes: &'a [u8],
    /// Next byte in `bytes`.
    at: usize,
    /// File offset of `bytes[0]`.
    base: u64,
}

impl<'a> Fields<'a> {
    /// The fields of `content`, which starts at file offset `base`.
    pub(crate) fn new(path: &'a Path, opcode: u8, content: &'a [u8], base: u64) -> Self {
        Self { path, record: op_name(opcode), bytes: content, at: 0, base }
    }

    /// File offset of the next field.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.at as u64
    }

    /// An error at the next field.
    pub(crate) fn error(&self, what: String) -> Rosbag2Error {
        format_error(self.path, self.offset(), format!("{} record: {what}", self.record))
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], Rosbag2Error> {
        let left = self.bytes.len() - self.at;
        if n > left {
            return Err(self.error(format!("truncated: field `{field}` needs {n} bytes, the record has {left} left")));
        }
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], Rosbag2Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn u16(&mut self, field: &str) -> Result<u16, Rosbag2Error> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &str) -> Result<u32, Rosbag2Error> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &str) -> Result<u64, Rosbag2Error> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// A `u32`-length-prefixed byte string.
    pub(crate) fn bytes(&mut self, field: &str) -> Result<&'a [u8], Rosbag2Error> {
        let len = self.u32(field)? as usize;
        self.take(len, field)
    }

    /// A `u64`-length-prefixed byte string (a chunk's records).
    pub(crate) fn long_bytes(&mut self, field: &str) -> Result<&'a [u8], Rosbag2Error> {
        let len = self.u64(field)?;
        let left = (self.bytes.len() - self.at) as u64;
        if len > left {
            return Err(self.error(format!("truncated: field `{field}` says {len} bytes, the record has {left} left")));
        }
        self.take(len as usize, field)
    }

    /// A `u32`-length-prefixed UTF-8 string.
    pub(crate) fn string(&mut self, field: &str) -> Result<String, Rosbag2Error> {
        let at = self.offset();
        let bytes = self.bytes(field)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| format_error(self.path, at, format!("{} record: field `{field}` is not UTF-8", self.record)))
    }

    /// A `Map<string, string>`.
    pub(crate) fn string_map(&mut self, field: &str) -> Result<BTreeMap<String, String>, Rosbag2Error> {
        let map_bytes = self.bytes(field)?;
        let mut inner = Fields {
            path: self.path,
            record: self.record,
            bytes: map_bytes,
            at: 0,
            base: self.offset() - map_bytes.len() as u64,
        };
        let mut map = BTreeMap::new();
        while inner.at < inner.bytes.len() {
            let key = inner.string(field)?;
            let value = inner.string(field)?;
            map.insert(key, value);
        }
        Ok(map)
    }

    /// The bytes after the parsed fields.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = &self.bytes[self.at..];
        self.at = self.bytes.len();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_name_the_record_field_and_offset() {
        let path = Path::new("x.mcap");
        let content = [2, 0, 0, 0, b'h', b'i', 9, 0, 0, 0, b'a'];
        let mut f = Fields::new(path, crate::records::op::SCHEMA, &content, 100);
        assert_eq!(f.string("name").unwrap(), "hi");
        let e = f.string("encoding").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.mcap at byte 110: Schema record: truncated: field `encoding` needs 9 bytes, the record has 1 left"
        );
        let mut f = Fields::new(path, crate::records::op::CHANNEL, &[1, 0, 0, 0, 0xff], 7);
        let e = f.string("topic").unwrap_err();
        assert_eq!(e.to_string(), "x.mcap at byte 7: Channel record: field `topic` is not UTF-8");
        let mut f = Fields::new(path, crate::records::op::CHUNK, &[200, 0, 0, 0, 0, 0, 0, 0, 1], 0);
        assert!(f.long_bytes("records").unwrap_err().to_string().contains("says 200 bytes, the record has 1 left"));
    }
}
