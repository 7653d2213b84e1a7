//! Writing archives of `.npy` members: stored members with their array data aligned (so they
//! map without a copy), or deflated; written to a temporary file renamed into place.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::{NpzError, Result};
#[cfg(feature = "python")]
use crate::write::blocks::StreamedMember;
use crate::zip::writer::ZipWriter;
#[cfg(feature = "python")]
use polars_core::runtime::THREAD_POOL;
#[cfg(feature = "python")]
use rayon::prelude::*;

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

/// A member name a column may have: the name makes a safe, readable zip member (no path
/// separator, no `..`, no NUL, within the zip format's 65,535 bytes).
pub(crate) fn check_member_name(path: &Path, name: &str) -> Result<()> {
    let column = name.strip_suffix(".npy").unwrap_or(name);
    let why = if column.contains(['/', '\\']) {
        Some("contains a path separator")
    } else if column.contains("..") {
        Some("contains '..'")
    } else if column.contains('\0') {
        Some("contains a NUL character")
    } else if name.len() > u16::MAX as usize {
        Some("is longer than a zip member name may be (65,535 bytes)")
    } else {
        None
    };
    match why {
        Some(why) => Err(NpzError::request(path, format!("column name '{}' {why}; rename the column", column.escape_debug()))),
        None => Ok(()),
    }
}

/// How a spilled member's data file holds its values.
#[cfg(feature = "python")]
#[derive(Clone, Copy)]
pub(crate) enum SpillKind {
    /// The array data as it is written.
    Raw,
    /// Strings as records (a little-endian u32 byte length, then UTF-8), written as numpy's
    /// `<U{width}` (UTF-32, padded with zeros).
    Utf32 { width: usize },
    /// Bytes as records (a u32 length, then the bytes), written as numpy's `|S{width}`.
    Bytes { width: usize },
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
    /// How that file holds it.
    pub(crate) kind: SpillKind,
}

/// Feed the array data of a spilled member to `f`, in chunks of about 1 MiB, encoded as
/// numpy stores it; returns its length in bytes.
#[cfg(feature = "python")]
fn spilled_data(file: &std::fs::File, kind: SpillKind, mut f: impl FnMut(&[u8]) -> std::io::Result<()>) -> std::io::Result<u64> {
    use std::io::{Read, Seek};
    let (utf32, width) = match kind {
        SpillKind::Raw => {
            let mut n = 0u64;
            crate::zip::writer::copy_through(file, |chunk| {
                n += chunk.len() as u64;
                f(chunk)
            })?;
            return Ok(n);
        }
        SpillKind::Utf32 { width } => (true, width),
        SpillKind::Bytes { width } => (false, width),
    };
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    reader.seek(std::io::SeekFrom::Start(0))?;
    let record = if utf32 { width * 4 } else { width };
    let mut out: Vec<u8> = Vec::with_capacity((1 << 20) + record);
    let mut value = Vec::new();
    let mut total = 0u64;
    let bad = |msg: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("spilled values: {msg}"));
    loop {
        let mut len = [0u8; 4];
        match reader.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        value.resize(u32::from_le_bytes(len) as usize, 0);
        reader.read_exact(&mut value)?;
        let start = out.len();
        if utf32 {
            let text = std::str::from_utf8(&value).map_err(|_| bad("not UTF-8"))?;
            for c in text.chars() {
                out.extend((c as u32).to_le_bytes());
            }
        } else {
            out.extend_from_slice(&value);
        }
        if out.len() - start > record {
            return Err(bad("a value is wider than the column"));
        }
        out.resize(start + record, 0);
        if out.len() >= 1 << 20 {
            total += out.len() as u64;
            f(&out)?;
            out.clear();
        }
    }
    total += out.len() as u64;
    if !out.is_empty() {
        f(&out)?;
    }
    Ok(total)
}

/// As [`write_members`], with each member's data streamed from a file, so memory stays
/// bounded whatever the archive's size: deflated members are compressed into a temporary file
/// beside `path` first.
#[cfg(feature = "python")]
pub(crate) fn write_spilled(
    path: &Path,
    members: &[SpilledMember<'_>],
    compress: bool,
    align: usize,
    block_rows: Option<u64>,
) -> Result<()> {
    check_align(path, align)?;
    for m in members {
        check_member_name(path, m.name)?;
    }
    let io = |source| NpzError::io(path, source);
    write_atomically(path, |tmp| {
        let dir = tmp.parent().unwrap_or(Path::new("."));
        // Each member's CRC-32 and length (and, deflated, its compressed bytes in a temporary
        // file), members in parallel on Polars' pool, each in one pass over its spill file.
        let prepare = |m: &SpilledMember<'_>| -> std::io::Result<Prepared> {
            let data = std::fs::File::open(m.data)?;
            let declared =
                crate::write::blocks::data_len(m.header).ok_or_else(|| std::io::Error::other("a spilled member's header is malformed"))?;
            let size = m.header.len() as u64 + declared;
            let packed = if compress { Some(BufWriter::with_capacity(1 << 20, tempfile::tempfile_in(dir)?)) } else { None };
            let mut member = StreamedMember::new(m.header, size, packed, block_rows);
            member.write(m.header)?;
            let len = spilled_data(&data, m.kind, |chunk| member.write(chunk))?;
            let (index, crc, packed) = member.finish()?;
            let packed = match packed {
                Some(w) => {
                    let file = w.into_inner().map_err(|e| e.into_error())?;
                    let packed_len = file.metadata()?.len();
                    Some((file, packed_len))
                }
                None => None,
            };
            Ok((crc, len, packed, index))
        };
        let prepared = THREAD_POOL.install(|| members.par_iter().map(prepare).collect::<std::io::Result<Vec<_>>>()).map_err(io)?;
        let file = std::fs::File::create(tmp).map_err(io)?;
        let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
        for (m, (crc, len, packed, index)) in members.iter().zip(prepared) {
            let size = m.header.len() as u64 + len;
            if let Some((packed, packed_len)) = packed {
                zip.add_file(m.name, 8, crc, size, &[], &packed, packed_len, 1).map_err(io)?;
                zip.set_blocks(&index);
                zip.set_header(m.header);
                continue;
            }
            let data = std::fs::File::open(m.data).map_err(io)?;
            let mut written = 0u64;
            zip.add_with(m.name, crc, size, m.header, len, align, |out| {
                spilled_data(&data, m.kind, |chunk| {
                    written += chunk.len() as u64;
                    out.write_all(chunk)
                })
                .map(|_| ())
            })
            .map_err(io)?;
            if written != len {
                return Err(io(std::io::Error::other("a spilled file changed while it was written")));
            }
            zip.set_blocks(&index);
            zip.set_header(m.header);
        }
        let out = zip.finish().map_err(io)?;
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)
    })
}

/// A spilled member ready to be written: the CRC-32 and length of its array data (header
/// included in the CRC), deflated, its compressed bytes in a temporary file and their length,
/// and its block index.
#[cfg(feature = "python")]
type Prepared = (u32, u64, Option<(std::fs::File, u64)>, crate::zip::blocks::BlockIndex);

/// Write `members` to `path` as an `.npz` archive: stored with their array data aligned to
/// `align` bytes, or deflated; through a temporary file renamed into place.
/// Members are written in blocks of `block_rows` rows (by default about 1 MiB of data each).
pub(crate) fn write_members(path: &Path, members: &[NpyMember<'_>], compress: bool, align: usize, block_rows: Option<u64>) -> Result<()> {
    check_align(path, align)?;
    for m in members {
        check_member_name(path, m.name)?;
    }
    let io = |source| NpzError::io(path, source);
    write_atomically(path, |tmp| write_to(tmp, members, compress, align, block_rows).map_err(io))
}

fn write_to(tmp: &Path, members: &[NpyMember<'_>], compress: bool, align: usize, block_rows: Option<u64>) -> std::io::Result<()> {
    let file = std::fs::File::create(tmp)?;
    let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
    for m in members {
        add_member(&mut zip, m.name, m.header, m.data, compress, align, block_rows)?;
    }
    let out = zip.finish()?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

/// Add one `.npy` member, `header` then `data`, cut in blocks (compressed, checksummed and
/// their statistics taken in parallel): deflated when `compress`, else stored with its array
/// data aligned to `align`; with its block index.
pub(crate) fn add_member<W: Write + std::io::Seek>(
    zip: &mut ZipWriter<W>,
    name: &str,
    header: &[u8],
    data: &[u8],
    compress: bool,
    align: usize,
    block_rows: Option<u64>,
) -> std::io::Result<()> {
    let (packed, index, crc) = crate::write::blocks::write_member(header, data, compress, block_rows)?;
    let size = (header.len() + data.len()) as u64;
    if compress {
        let parts: Vec<&[u8]> = packed.iter().map(Vec::as_slice).collect();
        zip.add_parts(name, 8, crc, size, &parts, 1, 0)?;
    } else {
        zip.add_parts(name, 0, crc, size, &[header, data], align, header.len())?;
    }
    zip.set_blocks(&index);
    zip.set_header(header);
    Ok(())
}

/// Write `dst` through a uniquely named temporary file beside it (so concurrent writers of one
/// target, in this process or another, never share a temporary), renamed into place once
/// `write` succeeds; removed otherwise.
///
/// The archive gets the mode a file opened for writing would have (as `np.savez` gives it): a
/// new file `0666` less the umask, a replaced file the mode it had. The temporary is never more
/// open than that, but for its owner's read and write while it is written.
pub(crate) fn write_atomically(dst: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = match dst.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = dst.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let io = |e| NpzError::io(dst, e);
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    let existing = {
        use std::os::unix::fs::PermissionsExt;
        let existing = std::fs::metadata(dst).ok().filter(|m| m.is_file()).map(|m| m.permissions().mode() & 0o777);
        // The OS narrows the mode a file is created with by the umask.
        builder.permissions(std::fs::Permissions::from_mode(existing.map_or(0o666, |m| m | 0o600)));
        existing
    };
    let tmp = builder.tempfile_in(dir).map_err(io)?;
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        let created = tmp.as_file().metadata().map_err(io)?.permissions().mode() & 0o777;
        if created & 0o600 != 0o600 {
            // Written through its path: its owner must be able to open it (a umask of 0277).
            tmp.as_file().set_permissions(std::fs::Permissions::from_mode(created | 0o600)).map_err(io)?;
        }
        existing.unwrap_or(created)
    };
    write(tmp.path())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode)).map_err(io)?;
    }
    tmp.persist(dst).map_err(|e| io(e.error))?;
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
                        write_members(dst, &members, false, 64, None).unwrap();
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
