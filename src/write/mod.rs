//! Writing: `.npy` encoding of Polars Series ([`npy`]), archives of `.npy` members with
//! aligned data ([`archive`]), and realignment of existing archives ([`align`]).

pub(crate) mod align;
pub(crate) mod archive;
pub(crate) mod blocks;
pub(crate) mod npy;
