//! An archive as Polars sees it: its members with their `.npy` headers, the schema, and
//! readers of selected columns (see [`super::batches`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use polars_core::prelude::{DataFrame, DataType, Schema};
use polars_core::runtime::THREAD_POOL;
use rayon::prelude::*;

use super::batches::{BatchReader, ColumnReader, Mode};
use super::learn_stats::StatsLearner;
use crate::decode::Decoder;
use crate::error::{invalid, ErrorKind, Invalid, NpzError, Result};
use crate::npy::dtype::{Element, NpyDtype};
use crate::npy::header::{self, NpyHeader, DEFAULT_MAX_HEADER_SIZE};
use crate::row_stats::ColumnStats;
use crate::source::{self, Source};
use crate::zip::{self, Compression, MemberReader, ZipEntry};

/// Options for opening an archive.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Map the file into memory (default). When false, members are read into owned memory.
    pub memory_map: bool,
    /// Largest `.npy` header dict accepted, in bytes (numpy's default is 10,000).
    pub max_header_size: usize,
    /// Check the CRC-32 of stored members too when they are read (reads every byte of them;
    /// deflated members are always checked once wholly inflated).
    pub verify_checksums: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { memory_map: true, max_header_size: DEFAULT_MAX_HEADER_SIZE, verify_checksums: false }
    }
}

/// An array member of the archive: its header and how its rows decode.
#[derive(Debug, Clone)]
pub(crate) struct ArrayMember {
    /// Column name: the member name without `.npy`.
    pub(crate) name: String,
    /// The parsed `.npy` header.
    pub(crate) header: NpyHeader,
    /// The parsed dtype.
    pub(crate) dtype: NpyDtype,
    /// How rows decode, or why this member's type is refused.
    pub(crate) decoder: std::result::Result<Decoder, String>,
}

impl ArrayMember {
    /// Rows in the column: the first axis, or `None` for a 0-d array (a constant that
    /// broadcasts to the frame's height).
    pub(crate) fn rows(&self) -> Option<u64> {
        self.header.shape.first().copied()
    }
}

/// One member of the zip archive, as listed by [`NpzArchive::members`].
#[derive(Debug, Clone)]
pub struct Member {
    pub(crate) entry: ZipEntry,
    pub(crate) array: Option<ArrayMember>,
}

impl Member {
    /// The member's name in the zip (e.g. `x.npy`).
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// How the member is stored: `"stored"`, `"deflated"` or `"method N"`.
    pub fn compression(&self) -> String {
        self.entry.compression.name()
    }

    /// Size of the member's bytes in the file.
    pub fn compressed_size(&self) -> u64 {
        self.entry.compressed_size
    }

    /// Size of the member's bytes once inflated.
    pub fn size(&self) -> u64 {
        self.entry.size
    }

    /// The column name, for `.npy` members (the member name without `.npy`).
    pub fn column(&self) -> Option<&str> {
        self.array.as_ref().map(|a| a.name.as_str())
    }

    /// The numpy type string (`<f8`, ...; `[structured]` for records), for `.npy` members.
    pub fn numpy_dtype(&self) -> Option<&str> {
        self.array.as_ref().map(|a| a.dtype.text.as_str())
    }

    /// Bytes per element, for `.npy` members.
    pub fn itemsize(&self) -> Option<usize> {
        self.array.as_ref().map(|a| a.dtype.itemsize)
    }

    /// The array's shape, for `.npy` members.
    pub fn shape(&self) -> Option<&[u64]> {
        self.array.as_ref().map(|a| a.header.shape.as_slice())
    }

    /// Whether the array is stored in Fortran order, for `.npy` members.
    pub fn fortran_order(&self) -> Option<bool> {
        self.array.as_ref().map(|a| a.header.fortran_order)
    }

    /// The Polars type of the column, or why its type is refused; `None` for members that
    /// are not `.npy` arrays.
    pub fn polars_dtype(&self) -> Option<std::result::Result<DataType, String>> {
        let a = self.array.as_ref()?;
        Some(a.decoder.as_ref().map(|d| DataType::from_arrow_dtype(d.arrow_type())).map_err(Clone::clone))
    }

    /// File offset of the array data, for stored members (inside the zip member otherwise).
    pub fn data_offset(&self) -> Option<u64> {
        let a = self.array.as_ref()?;
        match self.entry.compression {
            Compression::Stored => Some(self.entry.data_start + a.header.data_offset as u64),
            _ => None,
        }
    }
}

/// An open `.npz` archive.
#[derive(Debug, Clone)]
pub struct NpzArchive {
    path: PathBuf,
    source: Source,
    /// The zip index and `.npy` headers, read once and shared by every reopening of the file.
    index: Arc<ArchiveIndex>,
    verify_checksums: bool,
}

/// What opening an archive reads: its members with their `.npy` headers. Shared between an
/// archive planned once and the archives a dataset reopens for its data.
#[derive(Debug)]
struct ArchiveIndex {
    members: Vec<Member>,
    /// Position in `members` of each array, by column name.
    by_column: HashMap<String, usize>,
    /// The file's length when the index was read (a reopened file must have it still).
    len: u64,
    /// Whether the central directory carried every array's `.npy` header (none was read).
    carries_headers: bool,
}

impl NpzArchive {
    /// Open an archive with default options (memory-mapped).
    pub fn open(path: impl AsRef<Path>) -> Result<NpzArchive> {
        Self::open_with(path, &OpenOptions::default())
    }

    /// Open an archive: read its central directory and the `.npy` header of every array
    /// member (for a deflated member only the header prefix is inflated). No array data is read.
    pub fn open_with(path: impl AsRef<Path>, options: &OpenOptions) -> Result<NpzArchive> {
        let path = path.as_ref().to_path_buf();
        let source = source::open_file(&path, options.memory_map).map_err(|e| NpzError::io(&path, e))?;
        Self::from_source(path, source, options)
    }

    /// Open the archive at `url` in an object store (`s3://`, `gs://`, `az://`,
    /// `http(s)://`, ...) with ranged reads: the tail of the object (its index), then the
    /// headers of the array members in one batch; array data only when read. `storage`:
    /// object_store configuration keys (`aws_region`, `aws_endpoint_url`, ...).
    #[cfg(feature = "cloud")]
    pub fn open_url(url: &str, storage: &[(String, String)], options: &OpenOptions) -> Result<NpzArchive> {
        Self::open_url_within(url, &source::StoreOptions::new(storage), options, &|_| false)
    }

    /// As [`open_url`](Self::open_url); a small object whose size a listing gave is read whole
    /// at once when `take_whole` (given its size) agrees.
    #[cfg(feature = "cloud")]
    pub(crate) fn open_url_within(
        url: &str,
        storage: &source::StoreOptions,
        options: &OpenOptions,
        take_whole: &dyn Fn(u64) -> bool,
    ) -> Result<NpzArchive> {
        let path = PathBuf::from(url);
        let source = source::open_url(url, storage, take_whole).map_err(|e| NpzError::io(&path, e))?;
        Self::from_source(path, source, options)
    }

    /// An archive whose bytes are in memory (copied once into an anonymous mapping);
    /// `name` stands for the path in messages.
    pub fn from_bytes(name: impl Into<PathBuf>, bytes: &[u8], options: &OpenOptions) -> Result<NpzArchive> {
        let path = name.into();
        let source = source::from_bytes(bytes).map_err(|e| NpzError::io(&path, e))?;
        Self::from_source(path, source, options)
    }

    pub(crate) fn from_source(path: PathBuf, source: Source, options: &OpenOptions) -> Result<NpzArchive> {
        let entries = zip::read_index(&*source).map_err(|e| e.in_file(&path))?;
        let max = options.max_header_size;
        // The headers the central directory carries (archives written by this package) need
        // no read; the start of every other array member is read in one batch (one round of
        // concurrent requests for a remote source); a header longer than that is read on its own.
        let want = |e: &ZipEntry| FIRST_HEADER_READ.min(usize::try_from(e.size).unwrap_or(usize::MAX).saturating_sub(1));
        let to_read = |e: &ZipEntry| e.name.ends_with(".npy") && carried_header(e, max).is_none();
        let ranges: Vec<_> = entries.iter().filter(|e| to_read(e)).map(|e| zip::header_prefix_range(e, want(e))).collect();
        let carries_headers = ranges.is_empty() && entries.iter().any(|e| e.name.ends_with(".npy"));
        let mut prefixes =
            if ranges.is_empty() { Vec::new() } else { source.read_ranges(&ranges).map_err(|e| NpzError::io(&path, e))? }.into_iter();
        let mut members = Vec::with_capacity(entries.len());
        let mut by_column = HashMap::with_capacity(entries.len());
        for entry in entries {
            let array = match entry.name.strip_suffix(".npy") {
                Some(name) => {
                    let in_member = |e: Invalid| e.in_member(&path, &entry.name);
                    let bytes = match carried_header(&entry, max) {
                        Some(bytes) => bytes.to_vec(),
                        None => {
                            let raw = prefixes.next().unwrap_or_default();
                            let prefix = zip::header_prefix(&entry, &raw, want(&entry));
                            header_bytes(&source, &entry, &prefix, max).map_err(in_member)?
                        }
                    };
                    let a = read_array_member(&entry, name, &bytes, max).map_err(in_member)?;
                    by_column.insert(a.name.clone(), members.len());
                    Some(a)
                }
                None => None,
            };
            members.push(Member { entry, array });
        }
        let index = Arc::new(ArchiveIndex { members, by_column, len: source.len(), carries_headers });
        Ok(NpzArchive { path, source, index, verify_checksums: options.verify_checksums })
    }

    /// This archive without its byte source (a placeholder that refuses reads): what a
    /// dataset plan keeps of a local file, so thousands of planned files hold no descriptor.
    pub(crate) fn detached(&self) -> NpzArchive {
        NpzArchive { source: source::closed(self.index.len, self.source.identity()), ..self.clone() }
    }

    /// This archive's index over a new open of its file (mapped when `memory_map`): the zip
    /// index and headers are not read again. A file whose length changed since it was
    /// indexed is refused, naming it.
    pub(crate) fn reopened(&self, memory_map: bool, modified: Option<SystemTime>) -> Result<NpzArchive> {
        let (source, now) = source::open_file_modified(&self.path, memory_map).map_err(|e| NpzError::io(&self.path, e))?;
        if source.len() != self.index.len || now != modified {
            let msg = format!(
                "the file changed since the scan read its index ({} bytes then, {} now); scan it again",
                self.index.len,
                source.len()
            );
            return Err(NpzError::request(&self.path, msg));
        }
        Ok(NpzArchive { source, ..self.clone() })
    }

    /// Open the local archive at `path` as [`open_with`](Self::open_with) does, with the
    /// file's modification time when the system gives one.
    pub(crate) fn open_modified(path: &Path, options: &OpenOptions) -> Result<(NpzArchive, Option<SystemTime>)> {
        let (source, modified) = source::open_file_modified(path, options.memory_map).map_err(|e| NpzError::io(path, e))?;
        Ok((Self::from_source(path.to_path_buf(), source, options)?, modified))
    }

    /// Whether the central directory carried every array's `.npy` header (archives written by
    /// this package): opening it read no member's data.
    pub(crate) fn carries_headers(&self) -> bool {
        self.index.carries_headers
    }

    /// Whether reads verify the CRC-32 of stored members.
    pub(crate) fn verifies_checksums(&self) -> bool {
        self.verify_checksums
    }

    /// Whether the bytes come from an object store (each read a request).
    pub(crate) fn is_remote(&self) -> bool {
        self.source.is_remote()
    }

    /// The archive's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every member of the zip, in central-directory order.
    pub fn members(&self) -> &[Member] {
        &self.index.members
    }

    /// Where the archive's bytes come from.
    pub(crate) fn source(&self) -> &Source {
        &self.source
    }

    /// The address range of the file mapping (start, length), when mapped.
    pub fn mapping_range(&self) -> Option<(usize, usize)> {
        self.source.mapping().map(|m| (m.as_ptr() as usize, m.len()))
    }

    /// Column names (array members), in archive order.
    pub fn column_names(&self) -> Vec<&str> {
        self.arrays().map(|(_, a)| a.name.as_str()).collect()
    }

    /// Bytes of the `.npy` members whose column `wanted` accepts, once inflated (headers
    /// included): about what reading them whole takes in memory.
    pub(crate) fn array_bytes(&self, wanted: impl Fn(&str) -> bool) -> u64 {
        self.arrays().filter(|(_, a)| wanted(&a.name)).map(|(m, _)| m.entry.size).sum()
    }

    fn arrays(&self) -> impl Iterator<Item = (&Member, &ArrayMember)> {
        self.index.members.iter().filter_map(|m| m.array.as_ref().map(|a| (m, a)))
    }

    fn find(&self, column: &str) -> Result<(&Member, &ArrayMember)> {
        let found = self.index.by_column.get(column).and_then(|&i| {
            let m = &self.index.members[i];
            m.array.as_ref().map(|a| (m, a))
        });
        found.ok_or_else(|| {
            NpzError::request(&self.path, format!("no array named '{column}' in the archive (it has: {})", self.column_names().join(", ")))
        })
    }

    fn decoder<'a>(&self, m: &Member, a: &'a ArrayMember) -> Result<&'a Decoder> {
        a.decoder.as_ref().map_err(|reason| ErrorKind::Unsupported(reason.clone()).in_member(&self.path, &m.entry.name))
    }

    /// The Polars type of one column; an error naming the member when its type is refused.
    pub fn column_dtype(&self, column: &str) -> Result<DataType> {
        let (m, a) = self.find(column)?;
        let d = self.decoder(m, a)?;
        Ok(DataType::from_arrow_dtype(d.arrow_type()))
    }

    /// The Polars schema of every array member, without reading array data. A member whose
    /// type is refused (object, long double, ...) appears as `Null`: the other columns can
    /// be read, and reading that one gives an error naming it and why.
    pub fn schema(&self) -> Schema {
        self.arrays()
            .map(|(_, a)| {
                (a.name.as_str().into(), a.decoder.as_ref().map_or(DataType::Null, |d| DataType::from_arrow_dtype(d.arrow_type())))
            })
            .collect()
    }

    /// Rows of the archive: the first-axis length its arrays share (0-d arrays aside); one
    /// row when all arrays are 0-d or their lengths disagree (a selection of 0-d arrays
    /// alone is then one row); none without arrays.
    pub fn height(&self) -> u64 {
        if self.index.by_column.is_empty() {
            return 0;
        }
        common_rows(self.arrays().map(|(_, a)| a)).ok().flatten().unwrap_or(1)
    }

    /// Whether any member carries block statistics (archives written by this package), or has
    /// statistics learned by this process: only then can a filter skip anything in it.
    pub fn has_statistics(&self) -> bool {
        self.with_statistics().contains(&true)
    }

    /// Bytes (inflated) of the members a filter could skip parts of, those with block
    /// statistics written or learned: `(deflated, stored)`.
    pub fn statistics_bytes(&self) -> (u64, u64) {
        let mut out = (0, 0);
        for (m, has) in self.index.members.iter().zip(self.with_statistics()) {
            match (has, m.entry.compression) {
                (false, _) => {}
                (true, Compression::Deflated) => out.0 += m.entry.size,
                (true, _) => out.1 += m.entry.size,
            }
        }
        out
    }

    /// Whether each member has block statistics, written or learned (in the index's order).
    fn with_statistics(&self) -> Vec<bool> {
        let learned = zip::learned::stats_learned(&self.source, self.index.members.iter().map(|m| &m.entry));
        self.index.members.iter().zip(learned).map(|(m, l)| l || m.entry.blocks.as_deref().is_some_and(|b| b.stats.is_some())).collect()
    }

    /// Whether the arrays' first-axis lengths differ (0-d arrays aside), as in scipy's sparse
    /// archives: the rows of a read then depend on the columns it selects.
    pub fn is_ragged(&self) -> bool {
        common_rows(self.arrays().map(|(_, a)| a)).is_err()
    }

    /// Rows a read of `columns` gives: their common first-axis length, or the archive's
    /// [`height`](Self::height) when all of them are 0-d (or none is selected).
    pub fn rows_of(&self, columns: &[&str]) -> Result<u64> {
        let selected = columns.iter().map(|c| self.find(c).map(|(_, a)| a)).collect::<Result<Vec<_>>>()?;
        match common_rows(selected.iter().copied()).map_err(|e| e.in_file(&self.path))? {
            Some(h) => Ok(h),
            None if selected.is_empty() => Ok(self.height()),
            None => Ok(self.height().max(1)),
        }
    }

    /// The statistics of a column's blocks (see [`crate::zip::blocks`]), decoded as the column
    /// is, or those learned by this process for a member without them (see `learn_stats`):
    /// `None` when its member has none, or has an index that does not describe the array its
    /// header declares (a 1-D array, rows of its element size after the header).
    pub(crate) fn column_stats(&self, column: &str) -> Option<ColumnStats> {
        let (m, a) = self.find(column).ok()?;
        let learned = || {
            let stats = zip::learned::stats(&zip::learned::stats_key(&self.source, &m.entry)?)?;
            let fits = a.header.shape.len() == 1 && stats.holds(a.header.shape[0]);
            fits.then(|| ColumnStats::clone(&stats))
        };
        let Some(index) = m.entry.blocks.as_deref().filter(|b| b.stats.is_some()) else { return learned() };
        let stats = index.stats.as_ref()?;
        let decoder = a.decoder.as_ref().ok()?;
        let fits = index.rows
            && a.header.shape.len() == 1
            && index.units == a.header.shape[0]
            && index.unit_bytes == a.dtype.itemsize as u64
            && stats.itemsize == a.dtype.itemsize
            && index.data_offset == a.header.data_offset as u64;
        if !fits {
            return None;
        }
        // Blocks of rows: all but block 0, the header.
        let blocks = index.len().checked_sub(1).filter(|&n| n > 0)?;
        let size = stats.itemsize;
        let min = decoder.decode_bytes(&stats.min[size..], blocks).ok()?;
        let max = decoder.decode_bytes(&stats.max[size..], blocks).ok()?;
        let starts = (1..=blocks).map(|b| index.units_of(b).start).chain(std::iter::once(index.units)).collect();
        Some(ColumnStats { starts, nulls: stats.nulls[1..].to_vec(), nans: stats.nans[1..].to_vec(), min, max })
    }

    /// Whether the column's data would be handed to Polars without a copy.
    pub fn is_zero_copy(&self, column: &str) -> bool {
        let Ok((m, a)) = self.find(column) else { return false };
        let (Some(offset), Ok(d), Some(_)) = (m.data_offset(), &a.decoder, self.source.mapping()) else {
            return false;
        };
        d.zero_copy_at(offset as usize)
    }

    /// Read the named columns (all when `columns` is `None`) into one DataFrame, at most
    /// `n_rows` rows.
    pub fn read(&self, columns: Option<&[&str]>, n_rows: Option<usize>) -> Result<DataFrame> {
        let names: Vec<&str> = match columns {
            Some(c) => c.to_vec(),
            None => self.column_names(),
        };
        let mut reader = self.batches(&names, n_rows, None)?;
        let mut out = reader.next_frame()?.unwrap_or_default();
        while let Some(df) = reader.next_frame()? {
            out.vstack_mut(&df).map_err(|e| reader.polars_err(e))?;
        }
        Ok(out)
    }

    /// The batch size to use when a consumer (Polars' streaming engine) suggests `requested`
    /// rows; `None` (one batch) when nothing is requested. Columns that are all views of the
    /// mapping come in one batch whatever is asked: a batch of views costs nothing and holds
    /// no memory of its own, and each column stays one contiguous buffer (so, for example,
    /// `to_numpy()` of it needs no copy either). Copied columns of stored members of a mapped
    /// archive come in batches of at least 8 MiB (each copied in parallel while the consumer
    /// works on the previous one), as their per-batch cost is overhead. Deflated members keep
    /// the requested size, which bounds memory. From an object store, batches hold at least
    /// 64 MiB, as each batch of a stored member costs a request.
    pub fn suggested_batch_rows(&self, columns: &[&str], requested: Option<usize>) -> Option<usize> {
        let requested = requested?;
        if !columns.is_empty() && columns.iter().all(|c| self.is_zero_copy(c)) {
            return None;
        }
        let mapped_stored = self.source.mapping().is_some()
            && columns.iter().all(|c| self.find(c).is_ok_and(|(m, _)| m.entry.compression == Compression::Stored));
        // Remote sources: each batch of a stored member is a request, so batches of at least
        // 64 MiB (deflated members stream in large reads whatever the batch).
        let least = if self.source.is_remote() { 64 << 20 } else { 8 << 20 };
        if columns.is_empty() || !(mapped_stored || self.source.is_remote()) {
            return Some(requested);
        }
        let row_bytes: usize = columns
            .iter()
            .filter_map(|c| self.find(c).ok().and_then(|(m, a)| self.decoder(m, a).ok()))
            .map(Decoder::row_bytes)
            .sum::<usize>()
            .max(1);
        Some(requested.max(least / row_bytes))
    }

    /// A reader of the named columns in batches of `batch_rows` rows (one batch when `None`),
    /// stopping after `n_rows` rows. The columns must share their first-axis length; 0-d
    /// arrays broadcast.
    pub fn batches(&self, columns: &[&str], n_rows: Option<usize>, batch_rows: Option<usize>) -> Result<BatchReader> {
        self.batches_from(columns, 0, n_rows, batch_rows)
    }

    /// Like [`batches`](Self::batches), starting at row `skip` (rows before it are not
    /// decoded: stored members are sliced, deflated members inflated up to it and dropped).
    pub fn batches_from(&self, columns: &[&str], skip: usize, n_rows: Option<usize>, batch_rows: Option<usize>) -> Result<BatchReader> {
        // A file rewritten in place since it was opened is refused, naming it: its bytes are no
        // longer those the index describes (a file replaced by a rename is read as it was).
        self.source.check_unchanged().map_err(|e| NpzError::request(&self.path, e.to_string()))?;
        // A refused type is named before anything else about the selection.
        for &c in columns {
            let (m, a) = self.find(c)?;
            self.decoder(m, a)?;
        }
        // The local headers of the members read (of a remote archive opened by its central
        // directory alone), fetched in one batch to be checked.
        let entries = columns.iter().filter_map(|c| self.find(c).ok().map(|(m, _)| &m.entry));
        zip::prefetch_locals(&*self.source, entries).map_err(|e| e.in_file(&self.path))?;
        let height = usize::try_from(self.rows_of(columns)?).unwrap_or(usize::MAX);
        let skip = skip.min(height);
        let total = n_rows.map_or(height - skip, |n| n.min(height - skip));
        let column = |c: &str| -> Result<ColumnReader> {
            let (m, a) = self.find(c)?;
            let decoder = self.decoder(m, a)?.clone();
            let in_member = |e: Invalid| e.in_member(&self.path, &m.entry.name);
            if self.verify_checksums {
                zip::verify_stored(&*self.source, &m.entry).map_err(in_member)?;
            }
            // A deflated member the read covers is inflated at once on the first batch (faster,
            // in parallel with the other columns; its batches then point into the inflated
            // memory) when it is at most `WHOLE_MEMBER` or read in one batch; else it streams.
            let member_rows = a.rows().unwrap_or(1);
            let at_once = skip == 0
                && n_rows.is_none_or(|n| n as u64 >= member_rows)
                && (m.entry.size <= WHOLE_MEMBER || batch_rows.is_none_or(|b| b == 0 || b as u64 >= member_rows));
            let mut reader =
                if at_once { MemberReader::new_at_once(&self.source, &m.entry) } else { MemberReader::new(&self.source, &m.entry) }
                    .map_err(in_member)?;
            reader.skip(a.header.data_offset as u64).map_err(in_member)?;
            let transposed = a.header.fortran_order && a.header.shape.len() > 1;
            let mode = match a.rows() {
                None => {
                    // A 0-d array repeats to each batch's height: refuse a repetition far larger
                    // than the file (a tiny file could otherwise declare a big element and, in
                    // another member, many rows).
                    // Its cost per row: its bytes, and 16 (a view) per value of 0 bytes it holds.
                    let per_row = (decoder.row_bytes() as u64).saturating_add(zero_byte_slots(&[], &a.dtype).saturating_mul(16));
                    let per_batch = (total.min(batch_rows.filter(|&b| b > 0).unwrap_or(usize::MAX)) as u64).saturating_mul(per_row);
                    let cap = self.source.len().saturating_mul(4).max(256 << 20);
                    if per_batch > cap {
                        return Err(in_member(ErrorKind::Limit {
                            what: format!("repeating this 0-d array ({per_row} bytes) to {total} rows ({per_batch} bytes)"),
                            limit: format!("{cap} bytes for this file (4x its size, at least 256 MiB)"),
                            how: "; select it without longer arrays".to_string(),
                        }));
                    }
                    Mode::Constant(None)
                }
                Some(_) if transposed => Mode::Transposed {
                    shape: a.header.shape.clone(),
                    itemsize: a.dtype.itemsize,
                    keep: skip + total,
                    array: None,
                    offset: skip,
                },
                Some(_) => {
                    let skipped =
                        (skip as u64).checked_mul(decoder.row_bytes() as u64).ok_or_else(|| in_member(invalid!("row offset too large")))?;
                    reader.skip(skipped).map_err(in_member)?;
                    Mode::Rows
                }
            };
            // A read of all of a 1-D column learns its statistics, when it has none.
            let learn = match mode {
                Mode::Rows if skip == 0 && total as u64 == member_rows => {
                    StatsLearner::new(&self.source, &m.entry, &decoder, &a.header.shape)
                }
                _ => None,
            };
            Ok(ColumnReader { name: a.name.clone(), member: m.entry.name.clone(), decoder, reader, mode, row: skip, learn })
        };
        // Skipping rows of deflated members inflates them: the columns do it in parallel.
        let cols = if skip > 0 && columns.len() > 1 {
            THREAD_POOL.install(|| columns.par_iter().map(|c| column(c)).collect::<Result<Vec<_>>>())
        } else {
            columns.iter().map(|c| column(c)).collect::<Result<Vec<_>>>()
        }?;
        Ok(BatchReader::new(self.path.clone(), cols, total, batch_rows))
    }
}

/// The first-axis length shared by `arrays` (0-d arrays aside), `None` if all are 0-d.
fn common_rows<'a>(arrays: impl Iterator<Item = &'a ArrayMember>) -> std::result::Result<Option<u64>, Invalid> {
    let mut height: Option<(u64, &str)> = None;
    for a in arrays {
        let Some(rows) = a.rows() else { continue };
        match height {
            Some((h, other)) if h != rows => {
                return Err(ErrorKind::DifferentLengths {
                    first: other.to_string(),
                    first_rows: h,
                    second: a.name.clone(),
                    second_rows: rows,
                })
            }
            _ => height = Some((rows, a.name.as_str())),
        }
    }
    Ok(height.map(|(h, _)| h))
}

/// The largest deflated member (inflated bytes) that a read in batches covering all of it
/// inflates whole at once (libdeflate, blocks in parallel; its batches are then views of that
/// memory); a larger one streams batch by batch, so a streaming query's memory stays bounded
/// by the batches in flight, not by the members' sizes.
const WHOLE_MEMBER: u64 = 64 << 20;

/// Bytes read first from each member for its `.npy` header.
const FIRST_HEADER_READ: usize = 256;

/// The member's `.npy` header bytes: from `prefix` (its first uncompressed bytes) when they
/// hold the whole header, otherwise read from the member.
fn header_bytes(source: &Source, entry: &ZipEntry, prefix: &[u8], max_header_size: usize) -> std::result::Result<Vec<u8>, Invalid> {
    if let Ok(total) = header::header_len(prefix, max_header_size) {
        if total <= prefix.len() {
            return Ok(prefix[..total].to_vec());
        }
    }
    let mut reader = MemberReader::new(source, entry)?;
    // One read usually holds the whole header (numpy pads it to 64 bytes, most to 128). It
    // stops short of the member's last byte: reading that would check a deflated member's
    // CRC, which is for when its data is read, not its header.
    let have = FIRST_HEADER_READ.min(usize::try_from(entry.size).unwrap_or(usize::MAX).saturating_sub(1));
    let mut bytes = vec![0u8; have];
    reader.read_exact(&mut bytes)?;
    let total = header::header_len(&bytes, max_header_size)?;
    if total as u64 > entry.size {
        return Err(invalid!("header of {total} bytes is larger than the member ({} bytes)", entry.size));
    }
    if total > have {
        bytes.resize(total, 0);
        reader.read_exact(&mut bytes[have..total])?;
    }
    bytes.truncate(total);
    Ok(bytes)
}

/// The member's `.npy` header as its central-directory entry carries it, when that is a whole
/// header that ends where the member's data starts (see [`zip::carried`]); otherwise it is read
/// from the member.
fn carried_header(entry: &ZipEntry, max_header_size: usize) -> Option<&[u8]> {
    let bytes = entry.header.as_deref()?;
    header::parse(bytes, max_header_size).ok().filter(|h| h.data_offset == bytes.len()).map(|_| bytes)
}

fn read_array_member(entry: &ZipEntry, name: &str, bytes: &[u8], max_header_size: usize) -> std::result::Result<ArrayMember, Invalid> {
    let header = header::parse(bytes, max_header_size)?;
    let dtype = NpyDtype::from_descr(&header.descr)?;
    let count = header.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    let needed = count.and_then(|c| c.checked_mul(dtype.itemsize as u64));
    let available = entry.size - header.data_offset as u64;
    match needed {
        Some(n) if n <= available => {}
        // A pickle (object arrays) has no size the shape gives; its type is refused anyway.
        _ if dtype.has_object() => {}
        _ => {
            return Err(invalid!(
                "shape {:?} of '{}' needs {} bytes but the member holds {available}",
                header.shape,
                dtype.text,
                needed.map_or("more than 2^64".to_string(), |n| n.to_string())
            ))
        }
    }
    // Levels of an Arrow array whose data is 0 bytes (an axis of length 0 below others,
    // elements or record fields of 0 bytes) are not bounded by the member's size: cap them,
    // so a tiny file cannot declare a column of 2^32 empty arrays or 64 GiB of empty binaries.
    // Over the cap the member is refused (its column is Null; reading it is an error), and
    // when its rows alone are over it the archive is, since they would be the frame's height.
    let empty_slots = zero_byte_slots(&header.shape, &dtype);
    let cap = entry.size.max(1 << 20);
    let too_many = |n: u64| format!("shape {:?} of '{}' ({n} values of 0 bytes each)", header.shape, dtype.text);
    if let Some(&rows) = header.shape.first() {
        if empty_slots > cap && rows > cap {
            return Err(ErrorKind::Limit {
                what: too_many(rows),
                limit: format!("{cap} values of 0 bytes (the member's size, at least 2^20)"),
                how: String::new(),
            });
        }
    }
    let inner = header.shape.get(1..).unwrap_or(&[]);
    let decoder = if empty_slots > cap {
        Err(format!("{} exceeds the limit of {cap} such values", too_many(empty_slots)))
    } else {
        Decoder::new(&dtype, inner)
    };
    Ok(ArrayMember { name: name.to_string(), header, dtype, decoder })
}

/// How many Arrow values (at every nesting level: rows, each level of a sub-array, record
/// fields) an array of shape `dims` of `d` holds inside parts whose data is 0 bytes, which the
/// member's size does not bound. Saturating: "more than any cap" is enough.
fn zero_byte_slots(dims: &[u64], d: &NpyDtype) -> u64 {
    slots(dims, d, true)
}

/// Values of an array of shape `dims` of `d` (its own sub-array shape appended): all of them,
/// or with `zero_only` only those inside parts of 0 bytes.
fn slots(dims: &[u64], d: &NpyDtype, zero_only: bool) -> u64 {
    let dims: Vec<u64> = dims.iter().chain(&d.shape).copied().collect();
    let count = dims.iter().fold(1u64, |a, &x| a.saturating_mul(x));
    let fields = match &d.element {
        Element::Record(fields) => fields.as_slice(),
        _ => &[],
    };
    if zero_only && count > 0 && d.base_itemsize > 0 {
        // Data of nonzero size bounds these levels; only fields of 0 bytes can add values.
        let per = fields.iter().fold(0u64, |a, f| a.saturating_add(slots(&[], &f.dtype, true)));
        return count.saturating_mul(per);
    }
    // Every level: each proper prefix of the shape, then the elements and their fields.
    let mut total = count;
    let mut prefix = 1u64;
    for &x in dims.iter().take(dims.len().saturating_sub(1)) {
        prefix = prefix.saturating_mul(x);
        total = total.saturating_add(prefix);
    }
    let per = fields.iter().fold(0u64, |a, f| a.saturating_add(slots(&[], &f.dtype, false)));
    total.saturating_add(count.saturating_mul(per))
}
