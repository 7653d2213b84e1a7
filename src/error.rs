//! The one error type of the crate. Every variant names the archive and, where there is one,
//! the member, so a user can tell which file and which array is at fault.

use std::path::PathBuf;

/// An error reading an `.npz` archive.
#[derive(Debug, thiserror::Error)]
pub enum NpzError {
    /// The file could not be opened, mapped or read.
    #[error("{path}: {source}")]
    Io {
        /// The archive.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The zip structure (central directory, local headers) is invalid.
    #[error("{path}: not a valid zip archive: {reason}")]
    Zip {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A member's bytes are invalid: a bad `.npy` header, a corrupt deflate stream, a CRC
    /// mismatch, a size that does not add up.
    #[error("{path}: member '{member}': {reason}")]
    Member {
        /// The archive.
        path: PathBuf,
        /// The member's name in the zip (e.g. `x.npy`).
        member: String,
        /// What is wrong.
        reason: String,
    },
    /// The member is a valid `.npy` array, but of a kind this reader refuses to load.
    #[error("{path}: member '{member}': unsupported: {reason}")]
    Unsupported {
        /// The archive.
        path: PathBuf,
        /// The member's name in the zip.
        member: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// The request does not fit the archive (unknown column, arrays of different lengths).
    #[error("{path}: {reason}")]
    Request {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Result alias with [`NpzError`].
pub type Result<T, E = NpzError> = std::result::Result<T, E>;

/// A failure found by a parser that sees only bytes; the caller adds the archive and member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl Invalid {
    /// Attach the archive path and member name.
    pub(crate) fn in_member(self, path: &std::path::Path, member: &str) -> NpzError {
        NpzError::Member { path: path.to_path_buf(), member: member.to_string(), reason: self.0 }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Shorthand for building an [`Invalid`] from a format string.
macro_rules! invalid {
    ($($arg:tt)*) => { $crate::error::Invalid(format!($($arg)*)) };
}
pub(crate) use invalid;
