//! The one error type of the crate: what went wrong ([`ErrorKind`], with its facts), in which
//! file and, where there is one, which member. Parsers that see only bytes return an
//! [`ErrorKind`]; the layer that knows the file and member wraps it into an [`NpzError`].

use std::path::{Path, PathBuf};

/// What went wrong, with the facts a caller may want to act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be opened, mapped or read.
    #[error("{0}")]
    Io(#[source] std::io::Error),
    /// The zip structure (central directory, local headers) is invalid.
    #[error("not a valid zip archive: {0}")]
    Zip(String),
    /// A member's bytes are invalid: a bad `.npy` header, a corrupt deflate stream, sizes that
    /// do not add up.
    #[error("{0}")]
    Corrupt(String),
    /// A member's bytes end before what is being read of them.
    #[error("member ends early: {needed} more bytes needed at offset {at}, {left} left")]
    EndsEarly {
        /// Offset in the member's (uncompressed) bytes of the read.
        at: u64,
        /// Bytes the read needs.
        needed: u64,
        /// Bytes left in the member.
        left: u64,
    },
    /// A deflate stream ends before the member's declared size.
    #[error("deflate stream ends before the member's declared size of {declared} bytes")]
    StreamEndsEarly {
        /// The size the central directory declares.
        declared: u64,
    },
    /// A deflate stream goes on past the member's declared size (stopped there).
    #[error("deflate stream inflates past the member's declared size of {declared} bytes")]
    StreamTooLong {
        /// The size the central directory declares.
        declared: u64,
    },
    /// The CRC-32 of the member's bytes is not the one the central directory declares.
    #[error("CRC-32 mismatch: computed {computed:08x}, archive says {expected:08x}")]
    Checksum {
        /// CRC-32 of the bytes read.
        computed: u32,
        /// CRC-32 the archive declares.
        expected: u32,
    },
    /// The member is a valid `.npy` array, but of a kind this reader refuses to load.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The request does not fit the archive (unknown column, bad option).
    #[error("{0}")]
    Request(String),
    /// A resource limit refused the input (memory a value would take, sizes past a cap).
    #[error("{what} exceeds the limit of {limit}{how}")]
    Limit {
        /// What would exceed the limit.
        what: String,
        /// The limit, as text with its unit.
        limit: String,
        /// How to raise it, when it can be raised (text starting with "; ").
        how: String,
    },
    /// A bug of this library (an invariant that does not hold, or a conversion Polars
    /// refused); please report it.
    #[error("internal error (please report it): {0}")]
    Internal(String),
    /// Arrays selected together have different first-axis lengths.
    #[error("arrays of different lengths cannot be read together: '{first}' has {first_rows} rows, '{second}' has {second_rows} rows; select them separately")]
    DifferentLengths {
        /// One array.
        first: String,
        /// Its rows.
        first_rows: u64,
        /// Another array.
        second: String,
        /// Its rows.
        second_rows: u64,
    },
}

/// The broad class of an error, as bindings map it (Python: `OSError` for [`Category::Io`]
/// when opening a file, `NpzError` for the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// The operating system refused (missing file, permission, read failure).
    Io,
    /// The archive's bytes are invalid.
    Corrupt,
    /// A checksum does not match.
    Checksum,
    /// A valid array of a refused type.
    Unsupported,
    /// The request does not fit the archive.
    Request,
    /// A resource limit refused the input.
    Limit,
    /// A bug of this library.
    Internal,
}

impl Category {
    /// A short lowercase name (`"io"`, `"corrupt"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Category::Io => "io",
            Category::Corrupt => "corrupt",
            Category::Checksum => "checksum",
            Category::Unsupported => "unsupported",
            Category::Request => "request",
            Category::Limit => "limit",
            Category::Internal => "internal",
        }
    }
}

impl ErrorKind {
    /// The broad class of this error.
    pub fn category(&self) -> Category {
        match self {
            ErrorKind::Io(_) => Category::Io,
            ErrorKind::Zip(_)
            | ErrorKind::Corrupt(_)
            | ErrorKind::EndsEarly { .. }
            | ErrorKind::StreamEndsEarly { .. }
            | ErrorKind::StreamTooLong { .. } => Category::Corrupt,
            ErrorKind::Checksum { .. } => Category::Checksum,
            ErrorKind::Unsupported(_) => Category::Unsupported,
            ErrorKind::Request(_) | ErrorKind::DifferentLengths { .. } => Category::Request,
            ErrorKind::Limit { .. } => Category::Limit,
            ErrorKind::Internal(_) => Category::Internal,
        }
    }

    /// Attach the archive path and member name.
    pub(crate) fn in_member(self, path: &Path, member: &str) -> NpzError {
        NpzError { path: path.to_path_buf(), member: Some(member.to_string()), kind: self }
    }

    /// Attach the archive path.
    pub(crate) fn in_file(self, path: &Path) -> NpzError {
        NpzError { path: path.to_path_buf(), member: None, kind: self }
    }
}

/// An error reading or writing an `.npz` archive: what went wrong, in which file and member.
#[derive(Debug)]
pub struct NpzError {
    path: PathBuf,
    member: Option<String>,
    kind: ErrorKind,
}

impl NpzError {
    /// The archive (or the file being written).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The member's name in the zip (e.g. `x.npy`), when the error concerns one.
    pub fn member(&self) -> Option<&str> {
        self.member.as_deref()
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The broad class of the error.
    pub fn category(&self) -> Category {
        self.kind.category()
    }

    /// The message without the path (for callers that name the file themselves).
    pub fn message_without_path(&self) -> String {
        match &self.member {
            Some(m) => format!("member '{m}': {}", self.kind),
            None => self.kind.to_string(),
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> NpzError {
        ErrorKind::Io(source).in_file(path)
    }

    /// The same error, naming `path` when it names no file yet.
    pub(crate) fn or_path(mut self, path: &Path) -> NpzError {
        if self.path.as_os_str().is_empty() {
            self.path = path.to_path_buf();
        }
        self
    }

    pub(crate) fn request(path: &Path, reason: impl Into<String>) -> NpzError {
        ErrorKind::Request(reason.into()).in_file(path)
    }

    pub(crate) fn internal(path: &Path, what: impl Into<String>) -> NpzError {
        ErrorKind::Internal(what.into()).in_file(path)
    }
}

impl std::fmt::Display for NpzError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message_without_path())
    }
}

impl std::error::Error for NpzError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// An I/O error while reading a member's bytes (the file shrank, a read failed).
pub(crate) fn read_failed(e: std::io::Error) -> ErrorKind {
    ErrorKind::Io(std::io::Error::new(e.kind(), format!("read failed: {e}")))
}

/// Result alias with [`NpzError`].
pub type Result<T, E = NpzError> = std::result::Result<T, E>;

/// A failure found by code that sees only bytes; the caller adds the archive and member.
pub(crate) type Invalid = ErrorKind;

/// Shorthand for an [`ErrorKind::Corrupt`] from a format string.
macro_rules! invalid {
    ($($arg:tt)*) => { $crate::error::ErrorKind::Corrupt(format!($($arg)*)) };
}
pub(crate) use invalid;

/// Shorthand for an [`ErrorKind::Internal`] from a format string: an invariant of this
/// library that does not hold.
macro_rules! internal {
    ($($arg:tt)*) => { $crate::error::ErrorKind::Internal(format!($($arg)*)) };
}
pub(crate) use internal;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file_and_member() {
        let e = ErrorKind::Checksum { computed: 1, expected: 2 }.in_member(Path::new("a.npz"), "x.npy");
        assert_eq!(e.to_string(), "a.npz: member 'x.npy': CRC-32 mismatch: computed 00000001, archive says 00000002");
        assert_eq!(e.category(), Category::Checksum);
        assert_eq!(e.member(), Some("x.npy"));
        let e = NpzError::io(Path::new("b.npz"), std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(e.category(), Category::Io);
        assert!(std::error::Error::source(&e).is_some());
        assert!(e.to_string().starts_with("b.npz: "));
    }
}
