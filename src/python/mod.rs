//! The Python module `polars_npz._internal`: archives ([`archive`]), batch readers, columns
//! that cross to Python Polars through the Arrow PyCapsule interface ([`arrow`], zero-copy),
//! Arrow C streams of an archive's columns for any Arrow consumer ([`stream`]), and the
//! writer ([`write`]).

mod archive;
mod arrow;
mod chain;
mod plan;
mod stream;
mod write;

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::create_exception;
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;

create_exception!(polars_npz, NpzError, pyo3::exceptions::PyException, "An error reading an .npz archive.");

/// An error as Python sees it: `OSError` (the subclass its errno gives, with the file name)
/// when a file could not be opened, as `open()` and `pl.scan_parquet` raise; `NpzError` for
/// every problem with an archive, carrying `kind`, `path` and `member` attributes.
pub(crate) fn to_py(e: crate::NpzError) -> PyErr {
    let path = e.path().to_string_lossy().into_owned();
    to_py_as(&e, e.to_string(), path)
}

/// As `to_py`, for errors that may name no file yet (the caller adds the path).
pub(crate) fn to_py_without_path(e: crate::NpzError) -> PyErr {
    if e.path().as_os_str().is_empty() {
        return to_py_as(&e, e.message_without_path(), String::new());
    }
    to_py(e)
}

fn to_py_as(e: &crate::NpzError, message: String, path: String) -> PyErr {
    if let (crate::ErrorKind::Io(io), None) = (e.kind(), e.member()) {
        if let Some(errno) = io.raw_os_error() {
            // OSError(errno, strerror, filename) is constructed as the matching subclass
            // (FileNotFoundError, PermissionError, IsADirectoryError, ...).
            return PyOSError::new_err((errno, io.to_string(), path));
        }
        // An object store's answer (no errno): a missing object or a refusal as the same
        // OSError subclasses; other failures (after retries) are NpzError naming the URL.
        match io.kind() {
            std::io::ErrorKind::NotFound => return pyo3::exceptions::PyFileNotFoundError::new_err(message),
            std::io::ErrorKind::PermissionDenied => return pyo3::exceptions::PyPermissionError::new_err(message),
            _ => {}
        }
    }
    npz_error(e.category().name(), &path, e.member(), message)
}

/// An `NpzError` carrying `kind`, `path` and `member`, as every `NpzError` does.
pub(crate) fn npz_error(kind: &str, path: &str, member: Option<&str>, message: String) -> PyErr {
    let err = NpzError::new_err(message);
    Python::attach(|py| {
        let value = err.value(py);
        let _ = value.setattr("kind", kind);
        let _ = value.setattr("path", path);
        let _ = value.setattr("member", member);
    });
    err
}

/// Run `f`, turning a Rust panic into `NpzError` so it never unwinds into Python.
pub(crate) fn guarded<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
            Err(npz_error("internal", "", None, format!("internal error (please report it): {msg}")))
        }
    }
}

/// The archive URLs a URL names (itself, or the matches of a glob or a `/`-ended prefix).
#[pyfunction]
fn expand_url(py: Python<'_>, url: String, storage_options: Vec<(String, String)>) -> PyResult<Vec<String>> {
    guarded(|| py.detach(|| crate::expand_url(&url, &storage_options)).map_err(to_py))
}

/// Bytes this process has received from object stores so far.
#[pyfunction]
fn remote_bytes_fetched() -> u64 {
    crate::source::BYTES_FETCHED.load(std::sync::atomic::Ordering::Relaxed)
}

/// GET requests object stores have answered for this process so far.
#[pyfunction]
fn remote_requests() -> u64 {
    crate::source::REQUESTS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Bytes inflated from deflated members by this process so far (tests check what a read
/// inflates).
#[pyfunction]
fn inflated_bytes() -> u64 {
    crate::zip::inflate::INFLATED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Forget the seek points and statistics learned of plain deflated members; the bytes they
/// held before.
#[pyfunction]
fn clear_learned() -> u64 {
    let held = crate::zip::learned::held_bytes();
    crate::zip::learned::clear();
    held
}

/// Bytes of memory held by what this process learned of plain deflated members.
#[pyfunction]
fn learned_bytes() -> u64 {
    crate::zip::learned::held_bytes()
}

/// Whether `path` names an object in a store, not a local file: the scan's own rule (one
/// place decides it, for Python too).
#[pyfunction]
fn is_url(path: &str) -> bool {
    crate::scan::plan::is_url(path)
}

/// Forget the object-store indexes kept across scans (for benchmarks of a first scan).
#[pyfunction]
fn clear_plan_cache() {
    crate::scan::plan::clear_cache();
}

/// The native module.
#[pymodule]
#[pyo3(name = "_internal")]
fn internal(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<archive::Archive>()?;
    m.add_class::<archive::Batches>()?;
    m.add_class::<arrow::ArrowColumn>()?;
    m.add_class::<arrow::ArrowSchema>()?;
    m.add_class::<stream::ArrowStream>()?;
    m.add_class::<chain::ChunkedColumn>()?;
    m.add_class::<plan::Plan>()?;
    m.add_function(wrap_pyfunction!(chain::read_chain, m)?)?;
    m.add_function(wrap_pyfunction!(archive::block_stats, m)?)?;
    m.add_function(wrap_pyfunction!(arrow::index_column, m)?)?;
    m.add_function(wrap_pyfunction!(expand_url, m)?)?;
    m.add_function(wrap_pyfunction!(remote_bytes_fetched, m)?)?;
    m.add_function(wrap_pyfunction!(remote_requests, m)?)?;
    m.add_function(wrap_pyfunction!(clear_plan_cache, m)?)?;
    m.add_function(wrap_pyfunction!(inflated_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(clear_learned, m)?)?;
    m.add_function(wrap_pyfunction!(learned_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(is_url, m)?)?;
    m.add_function(wrap_pyfunction!(write::align_npz, m)?)?;
    m.add_function(wrap_pyfunction!(write::write_members, m)?)?;
    m.add_function(wrap_pyfunction!(write::series_to_npy, m)?)?;
    m.add_function(wrap_pyfunction!(write::write_spilled, m)?)?;
    m.add_function(wrap_pyfunction!(write::append_series, m)?)?;
    m.add_function(wrap_pyfunction!(write::append_varlen, m)?)?;
    m.add_function(wrap_pyfunction!(write::npy_header, m)?)?;
    m.add_function(wrap_pyfunction!(write::upload_file, m)?)?;
    m.add_function(wrap_pyfunction!(arrow::constant_column, m)?)?;
    m.add("NpzError", m.py().get_type::<NpzError>())?;
    Ok(())
}

// The extension allocates its columns with mimalloc: it keeps freed pages for reuse, so
// repeated reads do not pay the page faults of fresh memory for every copy.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
