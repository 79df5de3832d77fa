//! Where does a received payload live? Reads `/proc/self/maps` to find the mapping that holds an address.
//!
//! A frame that crossed dora through shared memory is read in place: its Arrow buffer points into a mapping of
//! a shared-memory file (`/dev/shm/…` or a `memfd:`), not into this process's heap. The recorder counts such
//! frames, which is how the tests show that frames are not copied between sender and receiver.

/// The pathname of the mapping that contains `addr` (empty string for anonymous mappings such as the heap).
pub fn mapping_of(addr: usize) -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    for line in maps.lines() {
        let mut parts = line.split_whitespace();
        let range = parts.next()?;
        let (lo, hi) = range.split_once('-')?;
        let (lo, hi) = (usize::from_str_radix(lo, 16).ok()?, usize::from_str_radix(hi, 16).ok()?);
        if (lo..hi).contains(&addr) {
            let path = parts.nth(4).unwrap_or("");
            return Some(path.to_owned());
        }
    }
    None
}

/// True if `addr` lies in a shared-memory file mapping.
pub fn is_shared_memory(addr: usize) -> bool {
    mapping_of(addr).is_some_and(|p| p.starts_with("/dev/shm/") || p.starts_with("/memfd:") || p.contains("zenoh"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_is_not_shared_memory() {
        let v = vec![1u8; 1 << 20];
        assert!(!is_shared_memory(v.as_ptr() as usize));
        assert!(mapping_of(v.as_ptr() as usize).is_some());
    }
}
