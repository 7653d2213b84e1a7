//! Writing archives of `.npy` members: stored members with their array data aligned (so they
//! map without a copy), or deflated; written to a temporary file renamed into place.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::align::write_atomically;
use crate::error::{NpzError, Result};
use crate::zipwrite::ZipWriter;

/// One member to write: the `.npy` header and the array data that follows it.
pub struct NpyMember<'a> {
    /// Member name, `.npy` included.
    pub name: &'a str,
    /// The `.npy` header (magic, version, dict, padding); its length sets where the data starts.
    pub header: &'a [u8],
    /// The array data.
    pub data: &'a [u8],
}

/// `align` must be a power of two, at most 4096 (a zip extra field pads at most 64 KiB).
pub(crate) fn check_align(path: &Path, align: usize) -> Result<()> {
    if align.is_power_of_two() && align <= 4096 {
        return Ok(());
    }
    Err(NpzError::Request { path: path.to_path_buf(), reason: format!("align must be a power of two up to 4096, not {align}") })
}

/// A member whose array data waits in a file (written batch by batch).
pub struct SpilledMember<'a> {
    /// Member name, `.npy` included.
    pub name: &'a str,
    /// The `.npy` header for the whole array.
    pub header: &'a [u8],
    /// The file holding the array data.
    pub data: &'a Path,
}

/// As [`write_members`], with each member's data streamed from a file, so memory stays
/// bounded whatever the archive's size (deflated members are compressed in memory).
pub fn write_spilled(path: &Path, members: &[SpilledMember<'_>], compress: bool, align: usize) -> Result<()> {
    check_align(path, align)?;
    let io = |source| NpzError::Io { path: path.to_path_buf(), source };
    write_atomically(path, |tmp| {
        let file = std::fs::File::create(tmp).map_err(io)?;
        let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
        for m in members {
            let data = std::fs::File::open(m.data).map_err(io)?;
            let len = data.metadata().map_err(io)?.len();
            let mut crc = crc32fast::Hasher::new();
            crc.update(m.header);
            copy_through(&data, |chunk| {
                crc.update(chunk);
                Ok(())
            })
            .map_err(io)?;
            let crc = crc.finalize();
            let size = m.header.len() as u64 + len;
            if compress {
                let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(m.header).map_err(io)?;
                copy_through(&data, |chunk| enc.write_all(chunk)).map_err(io)?;
                let packed = enc.finish().map_err(io)?;
                zip.add(m.name, 8, crc, size, &packed, 1, 0).map_err(io)?;
            } else {
                zip.add_streamed(m.name, crc, size, m.header, &data, len, align).map_err(io)?;
            }
        }
        let out = zip.finish().map_err(io)?;
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)
    })
}

/// Feed the whole file to `f` in 1 MiB chunks, from its start.
pub(crate) fn copy_through(file: &std::fs::File, mut f: impl FnMut(&[u8]) -> std::io::Result<()>) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    loop {
        let n = file.read_at(&mut buf, at)?;
        if n == 0 {
            return Ok(());
        }
        f(&buf[..n])?;
        at += n as u64;
    }
}

/// Write `members` to `path`: stored with every array's data at a multiple of `align` in the
/// file, or deflated when `compress`. Nothing is left at `path` if writing fails.
pub fn write_members(path: &Path, members: &[NpyMember<'_>], compress: bool, align: usize) -> Result<()> {
    check_align(path, align)?;
    let io = |source| NpzError::Io { path: path.to_path_buf(), source };
    write_atomically(path, |tmp| write_to(tmp, members, compress, align).map_err(io))
}


fn write_to(tmp: &Path, members: &[NpyMember<'_>], compress: bool, align: usize) -> std::io::Result<()> {
    let file = std::fs::File::create(tmp)?;
    let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
    for m in members {
        let mut crc = crc32fast::Hasher::new();
        crc.update(m.header);
        crc.update(m.data);
        let crc = crc.finalize();
        let size = (m.header.len() + m.data.len()) as u64;
        if compress {
            let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(m.header)?;
            enc.write_all(m.data)?;
            let packed = enc.finish()?;
            zip.add(m.name, 8, crc, size, &packed, 1, 0)?;
        } else {
            zip.add_parts(m.name, 0, crc, size, &[m.header, m.data], align, m.header.len())?;
        }
    }
    let out = zip.finish()?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}
