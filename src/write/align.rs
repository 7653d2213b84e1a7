//! Rewrite an archive so that the array data of every stored member starts at an aligned file
//! offset (then every fixed-width column maps without a copy), and every array member gets a
//! block index: deflated members are written again in blocks (see [`crate::write::blocks`]),
//! and members of numeric, boolean and temporal 1-D arrays get statistics per block. Optionally
//! deflated members are stored inflated.

use std::io::BufWriter;
use std::path::Path;

use crate::error::{invalid, Invalid, NpzError, Result};
use crate::scan::{NpzArchive, OpenOptions};
use crate::write::archive::{add_member, check_align, write_atomically};
use crate::zip::writer::ZipWriter;
use crate::zip::{Compression, MemberReader};

/// Options of [`align_npz`].
#[derive(Debug, Clone)]
pub struct AlignOptions {
    /// Alignment of each stored member's array data, in bytes (a power of two; 64 by default).
    pub align: usize,
    /// Store deflated members inflated (so they can be mapped too).
    pub decompress: bool,
    /// Rows per block (default: about 1 MiB of data per block).
    pub block_rows: Option<u64>,
}

impl Default for AlignOptions {
    fn default() -> Self {
        AlignOptions { align: 64, decompress: false, block_rows: None }
    }
}

/// Rewrite `src` as `dst` with every stored member's array data aligned and every array member
/// in blocks with statistics (numpy reads the result as before). The result is
/// written to a temporary file beside `dst` and renamed into place, so a failure never leaves
/// a partial archive at `dst`. CRCs are checked while copying.
pub fn align_npz(src: impl AsRef<Path>, dst: impl AsRef<Path>, options: &AlignOptions) -> Result<()> {
    let (src, dst) = (src.as_ref(), dst.as_ref());
    check_align(dst, options.align)?;
    let archive = NpzArchive::open_with(src, &OpenOptions::default())?;
    write_atomically(dst, |tmp| write_aligned(&archive, tmp, options))
}

/// Run `write` on a temporary file beside `dst` (same directory, so the rename is atomic),
/// then rename it to `dst`; on failure remove it, so nothing partial is ever left at `dst`.
fn write_aligned(archive: &NpzArchive, tmp: &Path, options: &AlignOptions) -> Result<()> {
    let io = |source| NpzError::io(tmp, source);
    let file = std::fs::File::create(tmp).map_err(io)?;
    let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
    let source = archive.source();
    for m in archive.members() {
        let e = &m.entry;
        let in_member = |err: Invalid| err.in_member(archive.path(), &e.name);
        let inner = m.array.as_ref().map_or(0, |a| a.header.data_offset);
        let inflate = e.compression == Compression::Deflated && options.decompress;
        if let Compression::Other(method) = e.compression {
            return Err(in_member(invalid!("compression method {method} is not supported")));
        }
        if e.compression == Compression::Deflated && !inflate && (e.blocks.is_some() || m.array.is_none()) {
            // Copied as it is: the compressed bytes, their CRC and sizes (and block index).
            let raw = crate::source::read_vec(&**source, e.data_start, e.compressed_size)
                .map_err(|err| in_member(crate::error::read_failed(err)))?;
            zip.add(&e.name, 8, e.crc32, e.size, &raw, 1, 0).map_err(io)?;
            if let Some(index) = &e.blocks {
                zip.set_blocks(index);
            }
            if m.array.is_some() {
                // Its `.npy` header (block 0 alone inflated), carried in the central directory.
                let mut head = vec![0u8; inner];
                MemberReader::new(source, e).and_then(|mut r| r.read_exact(&mut head)).map_err(in_member)?;
                zip.set_header(&head);
            }
            continue;
        }
        // The member's bytes, read whole and checked against its CRC-32.
        let size = usize::try_from(e.size).map_err(|_| in_member(invalid!("member too large")))?;
        let deflated = e.compression == Compression::Deflated;
        let mut bytes = vec![0u8; size];
        crate::zip::read_whole_into(source, e, &mut bytes).map_err(in_member)?;
        if m.array.is_none() {
            zip.add(&e.name, 0, e.crc32, e.size, &bytes, options.align, 0).map_err(io)?;
            continue;
        }
        // An array: deflated members are written again in blocks; both get statistics.
        let (head, data) = bytes.split_at(inner);
        add_member(&mut zip, &e.name, head, data, deflated && !inflate, options.align, options.block_rows).map_err(io)?;
    }
    let out = zip.finish().map_err(io)?;
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok(())
}
