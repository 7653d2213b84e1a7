//! Memory that Arrow buffers point into without a copy: the shared mapping of the archive,
//! or a whole member inflated into aligned heap memory.

use std::sync::Arc;

use super::Mapping;

/// Memory that ranges handed to Arrow buffers point into.
#[derive(Debug, Clone)]
pub(crate) enum Backing {
    /// The shared mapping of the archive.
    Map(Mapping),
    /// A whole member inflated into 8-byte-aligned heap memory.
    Heap(Arc<Vec<u64>>),
}

impl Backing {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Backing::Map(m) => m,
            Backing::Heap(v) => bytemuck::cast_slice(v.as_slice()),
        }
    }
}

/// A range of a [`Backing`]: of the shared mapping, or of a member inflated whole.
#[derive(Debug, Clone)]
pub(crate) struct BackedRange {
    /// The memory.
    pub(crate) backing: Backing,
    /// Start offset.
    pub(crate) start: usize,
    /// Length in bytes.
    pub(crate) len: usize,
}

impl BackedRange {
    /// The bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.backing.bytes()[self.start..self.start + self.len]
    }
}
