//! Fortran-order (column-major) arrays reordered to C order, for the rows a read keeps.

use crate::error::{invalid, Invalid};
use crate::pieces::for_each_piece;

/// Bytes of a Fortran-order array of `shape` that hold its first `keep` rows: up to the kept
/// rows of the last position of the trailing axes.
pub(crate) fn fortran_prefix_len(shape: &[u64], itemsize: usize, keep: usize) -> Result<usize, Invalid> {
    let too_large = || invalid!("array too large");
    let rows = usize::try_from(*shape.first().unwrap_or(&1)).map_err(|_| too_large())?;
    let row_len = shape.iter().skip(1).try_fold(1usize, |a, &d| a.checked_mul(usize::try_from(d).ok()?)).ok_or_else(too_large)?;
    if keep == 0 || row_len == 0 {
        return Ok(0);
    }
    let elements = (row_len - 1).checked_mul(rows).and_then(|e| e.checked_add(keep.min(rows))).ok_or_else(too_large)?;
    elements.checked_mul(itemsize).ok_or_else(too_large)
}

/// The first `keep` rows of a Fortran-order (column-major) array of `shape`, in C order.
/// `bytes` needs only [`fortran_prefix_len`] bytes.
///
/// Works on blocks of rows (about 256 KiB of output each, in parallel): within a block, each
/// position of the trailing axes is one contiguous run of the source (Fortran order keeps the
/// first axis fastest), written with a stride of one row.
pub(crate) fn fortran_to_c(bytes: &[u8], shape: &[u64], itemsize: usize, keep: usize) -> Result<Vec<u8>, Invalid> {
    let dims: Vec<usize> = shape.iter().map(|&d| usize::try_from(d)).collect::<Result<_, _>>().map_err(|_| invalid!("array too large"))?;
    let Some(&rows) = dims.first() else { return Err(invalid!("a 0-d array has no rows to reorder")) };
    let keep = keep.min(rows);
    let count = dims[1..].iter().try_fold(keep, |a, &d| a.checked_mul(d)).ok_or_else(|| invalid!("array too large"))?;
    let total = count.checked_mul(itemsize).ok_or_else(|| invalid!("array too large"))?;
    let src = bytes.get(..fortran_prefix_len(shape, itemsize, keep)?).ok_or_else(|| invalid!("data ends early"))?;
    let mut out = vec![0u8; total];
    if count == 0 || itemsize == 0 {
        return Ok(out);
    }
    let inner = &dims[1..];
    let row_len = count / keep; // elements per row
    let row_bytes = row_len * itemsize;
    let block_rows = ((256 << 10) / row_bytes).clamp(1, keep);
    for_each_piece(&mut out, block_rows * row_bytes, |at, block| {
        let first = at / row_bytes;
        match itemsize {
            1 => transpose_rows::<1>(src, block, first, rows, inner, row_len, 1),
            2 => transpose_rows::<2>(src, block, first, rows, inner, row_len, 2),
            4 => transpose_rows::<4>(src, block, first, rows, inner, row_len, 4),
            8 => transpose_rows::<8>(src, block, first, rows, inner, row_len, 8),
            16 => transpose_rows::<16>(src, block, first, rows, inner, row_len, 16),
            w => transpose_rows::<0>(src, block, first, rows, inner, row_len, w),
        }
    });
    Ok(out)
}

/// The source offsets (in elements, excluding the row) of the positions of a row, in C order:
/// calls `f(c, offset)` for each position `c` of the trailing axes `inner`.
fn for_each_row_position(inner: &[usize], rows: usize, mut f: impl FnMut(usize, usize)) {
    // Fortran strides of the trailing axes, in elements.
    let mut strides = Vec::with_capacity(inner.len());
    let mut acc = rows;
    for &d in inner {
        strides.push(acc);
        acc *= d;
    }
    let mut index = vec![0usize; inner.len()];
    let mut offset = 0usize;
    let row_len: usize = inner.iter().product();
    for c in 0..row_len {
        f(c, offset);
        // Advance the C-order index of the trailing axes (last fastest).
        for axis in (0..inner.len()).rev() {
            index[axis] += 1;
            offset += strides[axis];
            if index[axis] < inner[axis] {
                break;
            }
            offset -= strides[axis] * inner[axis];
            index[axis] = 0;
        }
    }
}

/// Rows `first..` (as many as fit in `out`) of a Fortran array of `w`-byte elements, in C order.
/// `W` is `w` when known at compile time (so the element copy is specialized), or 0.
fn transpose_rows<const W: usize>(src: &[u8], out: &mut [u8], first: usize, rows: usize, inner: &[usize], row_len: usize, w: usize) {
    let w = if W == 0 { w } else { W };
    let n = out.len() / (row_len * w);
    for_each_row_position(inner, rows, |c, offset| {
        let from = &src[(offset + first) * w..(offset + first + n) * w];
        for (row, v) in out.chunks_exact_mut(row_len * w).zip(from.chunks_exact(w)) {
            row[c * w..(c + 1) * w].copy_from_slice(v);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Element `(i0, i1, ...)` of a Fortran array is at `i0 + d0 * (i1 + d1 * (...))`.
    fn reference_fortran_to_c(src: &[u8], dims: &[usize], w: usize) -> Vec<u8> {
        let count: usize = dims.iter().product();
        let mut out = Vec::with_capacity(count * w);
        for c in 0..count {
            // The C-order multi-index of element c, then its Fortran offset.
            let mut rest = c;
            let mut index = vec![0; dims.len()];
            for axis in (0..dims.len()).rev() {
                index[axis] = rest % dims[axis];
                rest /= dims[axis];
            }
            let offset = (0..dims.len()).rev().fold(0, |acc, axis| acc * dims[axis] + index[axis]);
            out.extend_from_slice(&src[offset * w..(offset + 1) * w]);
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        #[test]
        fn fortran_to_c_matches_the_definition(
            dims in proptest::collection::vec(0usize..9, 1..5),
            w in prop_oneof![Just(1usize), Just(2), Just(4), Just(8), Just(16), Just(3), Just(12)],
            tall in any::<bool>(),
        ) {
            // Sometimes a tall first axis, so rows come in several blocks.
            let mut dims = dims;
            if tall { dims[0] = 70_000 / (w * dims[1..].iter().product::<usize>()).max(1) + 1; }
            let count: usize = dims.iter().product();
            let src: Vec<u8> = (0..count * w).map(|i| (i * 31 % 251) as u8).collect();
            let shape: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
            let want = reference_fortran_to_c(&src, &dims, w);
            prop_assert_eq!(&fortran_to_c(&src, &shape, w, dims[0]).unwrap(), &want);
            // The first `keep` rows need only a prefix of the bytes.
            let keep = dims[0] / 3;
            let prefix = fortran_prefix_len(&shape, w, keep).unwrap();
            let row_bytes = want.len() / dims[0].max(1);
            prop_assert_eq!(fortran_to_c(&src[..prefix], &shape, w, keep).unwrap(), want[..keep * row_bytes].to_vec());
        }

    }

    #[test]
    fn large_arrays_take_the_parallel_path() {
        let dims = [300_000usize, 3];
        let src: Vec<u8> = (0..dims[0] * dims[1] * 8).map(|i| (i % 253) as u8).collect();
        assert_eq!(fortran_to_c(&src, &[300_000, 3], 8, 300_000).unwrap(), reference_fortran_to_c(&src, &dims, 8));
    }
}
