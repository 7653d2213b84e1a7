//! The `.npy` format: the header ([`header`], its dict read by the [`literal`] parser), the
//! numpy type table ([`dtype`]) and time units ([`time`]). Everything here parses bytes and
//! text only; nothing reads a file.

pub(crate) mod dtype;
pub(crate) mod header;
pub(crate) mod literal;
pub(crate) mod time;
