//! Rewrite an archive so that the array data of every stored member starts at an aligned file
//! offset (then every fixed-width column maps without a copy), copying member bytes without
//! decoding them; optionally storing deflated members inflated.

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::archive::Compression;
use crate::error::{invalid, NpzError, Result};
use crate::member::MemberReader;
use crate::npz::{NpzArchive, OpenOptions};
use crate::zipwrite::ZipWriter;

/// Options of [`align_npz`].
#[derive(Debug, Clone)]
pub struct AlignOptions {
    /// Alignment of each stored member's array data, in bytes (a power of two; 64 by default).
    pub align: usize,
    /// Store deflated members inflated (so they can be mapped too).
    pub decompress: bool,
}

impl Default for AlignOptions {
    fn default() -> Self {
        AlignOptions { align: 64, decompress: false }
    }
}

/// Rewrite `src` as `dst` with every stored member's array data aligned. The result is
/// written to a temporary file beside `dst` and renamed into place, so a failure never leaves
/// a partial archive at `dst`. CRCs are checked while copying.
pub fn align_npz(src: impl AsRef<Path>, dst: impl AsRef<Path>, options: &AlignOptions) -> Result<()> {
    let (src, dst) = (src.as_ref(), dst.as_ref());
    crate::writer::check_align(dst, options.align)?;
    let archive = NpzArchive::open_with(src, &OpenOptions::default())?;
    write_atomically(dst, |tmp| write_aligned(&archive, tmp, options))
}

/// Run `write` on a temporary file beside `dst` (same directory, so the rename is atomic),
/// then rename it to `dst`; on failure remove it, so nothing partial is ever left at `dst`.
pub(crate) fn write_atomically(dst: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let name = dst.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp: PathBuf = dst.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    match write(&tmp) {
        Ok(()) => std::fs::rename(&tmp, dst).map_err(|source| NpzError::Io { path: dst.to_path_buf(), source }),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn write_aligned(archive: &NpzArchive, tmp: &Path, options: &AlignOptions) -> Result<()> {
    let io = |source| NpzError::Io { path: tmp.to_path_buf(), source };
    let file = std::fs::File::create(tmp).map_err(io)?;
    let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
    let source = archive.source();
    for m in archive.members() {
        let e = &m.entry;
        let in_member = |err: crate::error::Invalid| err.in_member(archive.path(), &e.name);
        let inner = m.array.as_ref().map_or(0, |a| a.header.data_offset);
        let inflate = e.compression == Compression::Deflated && options.decompress;
        if e.compression == Compression::Stored || inflate {
            // Stored bytes, or the member inflated whole (whose CRC the inflation checks).
            let size = usize::try_from(e.size).map_err(|_| in_member(invalid!("member too large")))?;
            let mut reader = if inflate { MemberReader::new_whole(source, e) } else { MemberReader::new(source, e) }.map_err(in_member)?;
            let mut bytes = vec![0u8; size];
            reader.read_exact(&mut bytes).map_err(in_member)?;
            if !inflate {
                let crc = crc32fast::hash(&bytes);
                if crc != e.crc32 {
                    return Err(in_member(invalid!("CRC-32 mismatch: computed {crc:08x}, archive says {:08x}", e.crc32)));
                }
            }
            zip.add(&e.name, 0, e.crc32, e.size, &bytes, options.align, inner).map_err(io)?;
        } else {
            // Copied as it is: the compressed bytes, their CRC and sizes.
            if let Compression::Other(method) = e.compression {
                return Err(in_member(invalid!("compression method {method} is not supported")));
            }
            let raw = source.read_range(e.data_start, e.compressed_size).map_err(in_member)?;
            zip.add(&e.name, 8, e.crc32, e.size, &raw, 1, 0).map_err(io)?;
        }
    }
    let out = zip.finish().map_err(io)?;
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok(())
}
