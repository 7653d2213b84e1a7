//! The zip layer: the central directory read into a table of members ([`index`]), a
//! member's uncompressed bytes from any byte source ([`member`], which picks the bytes and the
//! way; [`inflate`] does every inflation and every CRC-32 check), and the writer of aligned
//! archives ([`writer`]).

pub(crate) mod blocks;
pub(crate) mod carried;
pub(crate) mod index;
pub(crate) mod inflate;
pub(crate) mod learned;
pub(crate) mod member;
pub(crate) mod seek;
pub(crate) mod spans;
pub(crate) mod writer;

pub(crate) use index::{prefetch_locals, read_index, Compression, ZipEntry};
pub(crate) use member::{header_prefix, header_prefix_range, read_whole_into, verify_stored, MemberReader};
