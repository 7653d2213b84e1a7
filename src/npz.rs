//! The archive as Polars sees it: members with their `.npy` headers, the schema, and readers
//! that turn selected members into Series and DataFrames, batch by batch.

use std::path::{Path, PathBuf};

use polars_core::prelude::{Column as PlColumn, DataFrame, DataType, Schema, Series};
use polars_core::runtime::THREAD_POOL;
use rayon::prelude::*;

use crate::archive::{self, Compression, ZipEntry};
use crate::arrays::{ArrayRef, Decoder};
use crate::dtype::NpyDtype;
use crate::error::{invalid, NpzError, Result};
use crate::header::{self, NpyHeader, DEFAULT_MAX_HEADER_SIZE};
use crate::member::{MemberReader, Source, WindowReader};

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
pub struct ArrayMember {
    /// Column name: the member name without `.npy`.
    pub name: String,
    /// The parsed `.npy` header.
    pub header: NpyHeader,
    /// The parsed dtype.
    pub dtype: NpyDtype,
    /// How rows decode, or why this member's type is refused.
    pub decoder: std::result::Result<Decoder, String>,
}

impl ArrayMember {
    /// Rows in the column: the first axis, or `None` for a 0-d array (a constant that
    /// broadcasts to the frame's height).
    pub fn rows(&self) -> Option<u64> {
        self.header.shape.first().copied()
    }
}

/// One member of the zip archive.
#[derive(Debug, Clone)]
pub struct Member {
    /// The zip entry (name, compression, sizes, offsets).
    pub entry: ZipEntry,
    /// The array, for `.npy` members; `None` for other files in the zip.
    pub array: Option<ArrayMember>,
}

impl Member {
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
    members: Vec<Member>,
    verify_checksums: bool,
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
        let io_err = |source| NpzError::Io { path: path.clone(), source };
        let (source, file_len) = Source::open(&path, options.memory_map).map_err(io_err)?;
        Self::from_source(path, source, file_len, options)
    }

    /// An archive whose bytes are in memory (copied once into an anonymous mapping);
    /// `name` stands for the path in messages.
    pub fn from_bytes(name: impl Into<PathBuf>, bytes: &[u8], options: &OpenOptions) -> Result<NpzArchive> {
        let path = name.into();
        let (source, len) = Source::from_bytes(bytes).map_err(|source| NpzError::Io { path: path.clone(), source })?;
        Self::from_source(path, source, len, options)
    }

    fn from_source(path: PathBuf, source: Source, file_len: u64, options: &OpenOptions) -> Result<NpzArchive> {
        let zip_err = |e: crate::error::Invalid| NpzError::Zip { path: path.clone(), reason: e.0 };
        // The index is read with reads of the file, not through the mapping: touching the
        // mapping at each local header would map (and later unmap) pages around each one.
        let entries = match &source {
            Source::Mapped(_, Some(f)) | Source::File(f) => archive::read_index(WindowReader::new(f, file_len), file_len),
            Source::Mapped(m, None) => archive::read_index(std::io::Cursor::new(&m[..]), file_len),
        }
        .map_err(zip_err)?;
        let mut members = Vec::with_capacity(entries.len());
        for entry in entries {
            let array = match entry.name.strip_suffix(".npy") {
                Some(name) => Some(
                    read_array_member(&source, &entry, name, options.max_header_size)
                        .map_err(|e| e.in_member(&path, &entry.name))?,
                ),
                None => None,
            };
            members.push(Member { entry, array });
        }
        Ok(NpzArchive { path, source, members, verify_checksums: options.verify_checksums })
    }

    /// The archive's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every member of the zip, in central-directory order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Where the archive's bytes come from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The address range of the file mapping (start, length), when mapped.
    pub fn mapping_range(&self) -> Option<(usize, usize)> {
        self.source.mapping_range()
    }

    /// Column names (array members), in archive order.
    pub fn column_names(&self) -> Vec<&str> {
        self.arrays().map(|(_, a)| a.name.as_str()).collect()
    }

    fn arrays(&self) -> impl Iterator<Item = (&Member, &ArrayMember)> {
        self.members.iter().filter_map(|m| m.array.as_ref().map(|a| (m, a)))
    }

    fn find(&self, column: &str) -> Result<(&Member, &ArrayMember)> {
        self.arrays().find(|(_, a)| a.name == column).ok_or_else(|| NpzError::Request {
            path: self.path.clone(),
            reason: format!("no array named '{column}' in the archive (it has: {})", self.column_names().join(", ")),
        })
    }

    fn decoder<'a>(&self, m: &Member, a: &'a ArrayMember) -> Result<&'a Decoder> {
        a.decoder.as_ref().map_err(|reason| NpzError::Unsupported {
            path: self.path.clone(),
            member: m.entry.name.clone(),
            reason: reason.clone(),
        })
    }

    /// The Polars type of one column.
    pub fn column_dtype(&self, column: &str) -> Result<DataType> {
        let (m, a) = self.find(column)?;
        let d = self.decoder(m, a)?;
        Ok(DataType::from_arrow_dtype(d.arrow_type()))
    }

    /// The Polars schema of every array member, without reading array data. Fails if any
    /// member has a type that is refused.
    pub fn schema(&self) -> Result<Schema> {
        self.arrays()
            .map(|(m, a)| Ok((a.name.as_str().into(), DataType::from_arrow_dtype(self.decoder(m, a)?.arrow_type()))))
            .collect()
    }

    /// Whether the column's data would be handed to Polars without a copy.
    pub fn is_zero_copy(&self, column: &str) -> bool {
        let Ok((m, a)) = self.find(column) else { return false };
        let (Some(offset), Ok(d), Source::Mapped(..)) = (m.data_offset(), &a.decoder, &self.source) else {
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
    /// the requested size, which bounds memory.
    pub fn suggested_batch_rows(&self, columns: &[&str], requested: Option<usize>) -> Option<usize> {
        let requested = requested?;
        if !columns.is_empty() && columns.iter().all(|c| self.is_zero_copy(c)) {
            return None;
        }
        let mapped_stored = matches!(self.source, Source::Mapped(..))
            && columns.iter().all(|c| self.find(c).is_ok_and(|(m, _)| m.entry.compression == Compression::Stored));
        if columns.is_empty() || !mapped_stored {
            return Some(requested);
        }
        let row_bytes: usize = columns
            .iter()
            .filter_map(|c| self.find(c).ok().and_then(|(m, a)| self.decoder(m, a).ok()))
            .map(Decoder::row_bytes)
            .sum::<usize>()
            .max(1);
        Some(requested.max((8 << 20) / row_bytes))
    }

    /// A reader of the named columns in batches of `batch_rows` rows (one batch when `None`),
    /// stopping after `n_rows` rows. The columns must share their first-axis length; 0-d
    /// arrays broadcast.
    pub fn batches(&self, columns: &[&str], n_rows: Option<usize>, batch_rows: Option<usize>) -> Result<BatchReader> {
        // The frame's height: the common first axis of the selected arrays; when only 0-d
        // arrays (or none) are selected, that of every array in the archive.
        let selected = columns.iter().map(|c| self.find(c).map(|(_, a)| a)).collect::<Result<Vec<_>>>()?;
        let height = match self.common_rows(selected.iter().copied())? {
            Some(h) => h,
            None => self.common_rows(self.arrays().map(|(_, a)| a))?.unwrap_or(1),
        };
        let height = usize::try_from(height).unwrap_or(usize::MAX);
        let total = n_rows.map_or(height, |n| n.min(height));
        let mut cols = Vec::with_capacity(columns.len());
        for &c in columns {
            let (m, a) = self.find(c)?;
            let decoder = self.decoder(m, a)?.clone();
            let in_member = |e: crate::error::Invalid| e.in_member(&self.path, &m.entry.name);
            if self.verify_checksums {
                crate::member::verify_stored(&self.source, &m.entry).map_err(in_member)?;
            }
            // A deflated member read whole in one batch is inflated at once, on the first read
            // (faster, in parallel with the other columns, and its column then points into
            // the inflated memory); otherwise it streams.
            let whole = batch_rows.is_none_or(|b| b == 0 || b as u64 >= a.rows().unwrap_or(1))
                && n_rows.is_none_or(|n| n as u64 >= a.rows().unwrap_or(1));
            let mut reader = if whole {
                MemberReader::new_whole(&self.source, &m.entry)
            } else {
                MemberReader::new(&self.source, &m.entry)
            }
            .map_err(in_member)?;
            reader.skip(a.header.data_offset as u64).map_err(in_member)?;
            let transposed = a.header.fortran_order && a.header.shape.len() > 1;
            cols.push(ColumnReader {
                name: a.name.clone(),
                member: m.entry.name.clone(),
                decoder,
                reader,
                mode: match a.rows() {
                    None => Mode::Constant(None),
                    Some(_) if transposed => Mode::Whole { shape: a.header.shape.clone(), itemsize: a.dtype.itemsize, keep: total, array: None, offset: 0 },
                    Some(_) => Mode::Rows,
                },
            });
        }
        Ok(BatchReader {
            path: self.path.clone(),
            cols,
            total,
            done: 0,
            batch_rows: batch_rows.filter(|&b| b > 0).unwrap_or(usize::MAX),
            started: false,
        })
    }
}

impl NpzArchive {
    /// The first-axis length shared by `arrays` (0-d arrays aside), `None` if all are 0-d.
    fn common_rows<'a>(&self, arrays: impl Iterator<Item = &'a ArrayMember>) -> Result<Option<u64>> {
        let mut height: Option<(u64, &str)> = None;
        for a in arrays {
            let Some(rows) = a.rows() else { continue };
            match height {
                Some((h, other)) if h != rows => {
                    return Err(NpzError::Request {
                        path: self.path.clone(),
                        reason: format!(
                            "arrays of different lengths cannot be read together: '{other}' has {h} rows, '{}' has {rows} rows; select them separately",
                            a.name
                        ),
                    })
                }
                _ => height = Some((rows, a.name.as_str())),
            }
        }
        Ok(height.map(|(h, _)| h))
    }
}

/// Bytes read first from each member for its `.npy` header.
const FIRST_HEADER_READ: usize = 256;

fn read_array_member(
    source: &Source,
    entry: &ZipEntry,
    name: &str,
    max_header_size: usize,
) -> std::result::Result<ArrayMember, crate::error::Invalid> {
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
    let header = header::parse(&bytes, max_header_size)?;
    let dtype = NpyDtype::from_descr(&header.descr)?;
    let count = header.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    let needed = count.and_then(|c| c.checked_mul(dtype.itemsize as u64));
    let available = entry.size - header.data_offset as u64;
    match needed {
        Some(n) if n <= available => {}
        _ => {
            return Err(invalid!(
                "shape {:?} of '{}' needs {} bytes but the member holds {available}",
                header.shape,
                dtype.text,
                needed.map_or("more than 2^64".to_string(), |n| n.to_string())
            ))
        }
    }
    let inner = header.shape.get(1..).unwrap_or(&[]);
    // Rows of zero bytes (an inner dimension of 0) are not bounded by the member's size:
    // cap them, so a tiny file cannot declare a frame of 2^60 rows.
    let row_elems = inner.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    if let (Some(&rows), Some(0)) = (header.shape.first(), row_elems.map(|e| e.saturating_mul(dtype.itemsize as u64))) {
        let cap = entry.size.max(1 << 20);
        if rows > cap {
            return Err(invalid!("{rows} rows of 0 bytes each: more than the {cap} rows accepted for such arrays"));
        }
    }
    let decoder = Decoder::new(&dtype, inner);
    Ok(ArrayMember { name: name.to_string(), header, dtype, decoder })
}

struct ColumnReader {
    name: String,
    member: String,
    decoder: Decoder,
    reader: MemberReader,
    mode: Mode,
}

/// How a column's rows are produced.
enum Mode {
    /// C order: each batch decodes just its rows.
    Rows,
    /// A 0-d array: decoded once, repeated to each batch's height.
    Constant(Option<Series>),
    /// Fortran order (2+ dimensions): rows are not contiguous, so the array's first `keep`
    /// rows (all the reader produces) are transposed to C order once and sliced per batch.
    Whole { shape: Vec<u64>, itemsize: usize, keep: usize, array: Option<ArrayRef>, offset: usize },
}

impl ColumnReader {
    fn next(&mut self, rows: usize, path: &Path) -> Result<Series> {
        let in_member = |e: crate::error::Invalid| e.in_member(path, &self.member);
        let array = match &mut self.mode {
            Mode::Rows => self.decoder.decode(&mut self.reader, rows).map_err(in_member)?,
            Mode::Constant(scalar) => {
                if scalar.is_none() {
                    let array = self.decoder.decode(&mut self.reader, 1).map_err(in_member)?;
                    *scalar = Some(to_series(&self.name, array).map_err(in_member)?);
                }
                return Ok(scalar.as_ref().map(|s| s.new_from_index(0, rows)).unwrap_or_default());
            }
            Mode::Whole { shape, itemsize, keep, array, offset } => {
                if array.is_none() {
                    // The kept rows of the last position of the trailing axes end the bytes needed.
                    let needed = crate::arrays::fortran_prefix_len(shape, *itemsize, *keep).map_err(in_member)?;
                    let decoder = &self.decoder;
                    let whole = crate::arrays::with_bytes(&mut self.reader, needed, |bytes| {
                        let c_order = crate::arrays::fortran_to_c(bytes, shape, *itemsize, *keep)?;
                        decoder.decode_bytes(&c_order, *keep)
                    })
                    .map_err(in_member)?;
                    *array = Some(whole);
                }
                let whole = array.as_ref().map(|a| a.sliced(*offset, rows));
                *offset += rows;
                whole.ok_or_else(|| in_member(invalid!("internal: array missing")))?
            }
        };
        to_series(&self.name, array).map_err(in_member)
    }
}

fn to_series(name: &str, array: ArrayRef) -> std::result::Result<Series, crate::error::Invalid> {
    Series::from_arrow(name.into(), array).map_err(|e| invalid!("{e}"))
}

/// Reads selected columns batch by batch. Each call decodes only the rows of that batch.
pub struct BatchReader {
    path: PathBuf,
    cols: Vec<ColumnReader>,
    total: usize,
    done: usize,
    batch_rows: usize,
    started: bool,
}

impl BatchReader {
    /// Rows this reader will produce in all.
    pub fn height(&self) -> usize {
        self.total
    }

    /// The next batch: its row count and one Series per selected column, or `None` when done. An empty
    /// selection or zero rows still gives one (empty) batch, so the types are known.
    pub fn next_series(&mut self) -> Result<Option<(usize, Vec<Series>)>> {
        if self.started && self.done >= self.total {
            return Ok(None);
        }
        self.started = true;
        let rows = self.batch_rows.min(self.total - self.done);
        let path = self.path.clone();
        // Columns decode in parallel on Polars' thread pool (sized like Polars':
        // POLARS_MAX_THREADS), so decoding does not oversubscribe the cores.
        let series = if self.cols.len() > 1 {
            THREAD_POOL.install(|| self.cols.par_iter_mut().map(|c| c.next(rows, &path)).collect::<Result<Vec<_>>>())
        } else {
            self.cols.iter_mut().map(|c| c.next(rows, &path)).collect::<Result<Vec<_>>>()
        };
        // After an error the reader is finished: its members are in an unknown position.
        self.done = if series.is_ok() { self.done + rows } else { self.total };
        let series = series?;
        Ok(Some((rows, series)))
    }

    /// The next batch as a DataFrame, or `None` when done.
    pub fn next_frame(&mut self) -> Result<Option<DataFrame>> {
        let Some((height, series)) = self.next_series()? else { return Ok(None) };
        let cols: Vec<PlColumn> = series.into_iter().map(PlColumn::from).collect();
        DataFrame::new(height, cols).map(Some).map_err(|e| self.polars_err(e))
    }

    fn polars_err(&self, e: polars_core::error::PolarsError) -> NpzError {
        NpzError::Request { path: self.path.clone(), reason: e.to_string() }
    }
}

impl Iterator for BatchReader {
    type Item = Result<DataFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}
