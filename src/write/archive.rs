//! Writing archives of `.npy` members: stored members with their array data aligned (so they
//! map without a copy), or deflated; written to a temporary file renamed into place.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::{NpzError, Result};
use crate::zip::writer::ZipWriter;

/// One member to write: the `.npy` header and the array data that follows it.
pub(crate) struct NpyMember<'a> {
    /// Member name, `.npy` included.
    pub(crate) name: &'a str,
    /// The `.npy` header (magic, version, dict, padding); its length sets where the data starts.
    pub(crate) header: &'a [u8],
    /// The array data.
    pub(crate) data: &'a [u8],
}

/// `align` must be a power of two, at most 4096 (a zip extra field pads at most 64 KiB).
pub(crate) fn check_align(path: &Path, align: usize) -> Result<()> {
    if align.is_power_of_two() && align <= 4096 {
        return Ok(());
    }
    Err(NpzError::request(path, format!("align must be a power of two up to 4096, not {align}")))
}

/// A member whose array data waits in a file (written batch by batch).
#[cfg(feature = "python")]
pub(crate) struct SpilledMember<'a> {
    /// Member name, `.npy` included.
    pub(crate) name: &'a str,
    /// The `.npy` header for the whole array.
    pub(crate) header: &'a [u8],
    /// The file holding the array data.
    pub(crate) data: &'a Path,
}

/// As [`write_members`], with each member's data streamed from a file, so memory stays
/// bounded whatever the archive's size (deflated members are compressed in memory).
#[cfg(feature = "python")]
pub(crate) fn write_spilled(path: &Path, members: &[SpilledMember<'_>], compress: bool, align: usize) -> Result<()> {
    check_align(path, align)?;
    let io = |source| NpzError::io(path, source);
    write_atomically(path, |tmp| {
        let file = std::fs::File::create(tmp).map_err(io)?;
        let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
        for m in members {
            let data = std::fs::File::open(m.data).map_err(io)?;
            let len = data.metadata().map_err(io)?.len();
            let mut crc = crc32fast::Hasher::new();
            crc.update(m.header);
            crate::zip::writer::copy_through(&data, |chunk| {
                crc.update(chunk);
                Ok(())
            })
            .map_err(io)?;
            let crc = crc.finalize();
            let size = m.header.len() as u64 + len;
            if compress {
                let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(m.header).map_err(io)?;
                crate::zip::writer::copy_through(&data, |chunk| enc.write_all(chunk)).map_err(io)?;
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
pub(crate) fn write_members(path: &Path, members: &[NpyMember<'_>], compress: bool, align: usize) -> Result<()> {
    check_align(path, align)?;
    let io = |source| NpzError::io(path, source);
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

/// Write `dst` through a uniquely named temporary file beside it (so concurrent writers of one
/// target, in this process or another, never share a temporary), renamed into place once
/// `write` succeeds; removed otherwise.
pub(crate) fn write_atomically(dst: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = match dst.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = dst.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".tmp").tempfile_in(dir).map_err(|e| NpzError::io(dst, e))?;
    write(tmp.path())?;
    tmp.persist(dst).map_err(|e| NpzError::io(dst, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threads writing the same target at once each get their own temporary: every write
    /// succeeds and the result is one of them, whole.
    #[test]
    fn concurrent_writers_of_one_target() {
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join("same.npz");
        std::thread::scope(|scope| {
            for t in 0..8u8 {
                let dst = &dst;
                scope.spawn(move || {
                    for _ in 0..20 {
                        let data = vec![t; 64 << 10];
                        let members = [NpyMember { name: "x.npy", header: b"", data: &data }];
                        write_members(dst, &members, false, 64).unwrap();
                    }
                });
            }
        });
        let z = zip::ZipArchive::new(std::fs::File::open(&dst).unwrap()).unwrap();
        assert_eq!(z.len(), 1);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    }
}
