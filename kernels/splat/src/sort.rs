//! Stable LSD radix sort of `(u32 key, u32 value)` pairs, 8 bits per pass, with scratch buffers owned by
//! the caller so that steady-state frames do not allocate. Passes whose byte is equal for all keys are
//! skipped. Stability is what makes ties (equal depths) resolve by Gaussian index, as in the reference.

/// Sorts `keys` (and `values` alongside) ascending, stably. `scratch_*` are resized as needed.
pub(crate) fn radix_sort_pairs(
    keys: &mut Vec<u32>,
    values: &mut Vec<u32>,
    scratch_keys: &mut Vec<u32>,
    scratch_values: &mut Vec<u32>,
) {
    let n = keys.len();
    debug_assert_eq!(n, values.len());
    scratch_keys.resize(n, 0);
    scratch_values.resize(n, 0);
    let mut hist = [[0u32; 256]; 4];
    for &k in keys.iter() {
        for (pass, h) in hist.iter_mut().enumerate() {
            h[((k >> (8 * pass)) & 0xff) as usize] += 1;
        }
    }
    for (pass, h) in hist.iter().enumerate() {
        if h.iter().any(|&c| c as usize == n) {
            continue; // every key has the same byte here
        }
        let mut offsets = [0u32; 256];
        let mut sum = 0u32;
        for (o, &c) in offsets.iter_mut().zip(h.iter()) {
            *o = sum;
            sum += c;
        }
        let shift = 8 * pass;
        for (&k, &v) in keys.iter().zip(values.iter()) {
            let b = ((k >> shift) & 0xff) as usize;
            let dst = offsets[b] as usize;
            scratch_keys[dst] = k;
            scratch_values[dst] = v;
            offsets[b] += 1;
        }
        std::mem::swap(keys, scratch_keys);
        std::mem::swap(values, scratch_values);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_stably_like_std() {
        let mut state = 12345u32;
        let mut keys: Vec<u32> = (0..5000)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                state >> 7 & 0x00ff_f0ff // plenty of ties, one constant byte
            })
            .collect();
        let mut values: Vec<u32> = (0..keys.len() as u32).collect();
        let mut expected: Vec<(u32, u32)> = keys.iter().copied().zip(values.iter().copied()).collect();
        expected.sort_by_key(|p| p.0);
        radix_sort_pairs(&mut keys, &mut values, &mut Vec::new(), &mut Vec::new());
        let got: Vec<(u32, u32)> = keys.into_iter().zip(values).collect();
        assert_eq!(got, expected);
    }
}
