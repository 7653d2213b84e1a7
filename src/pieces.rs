//! Work on large buffers in pieces on Polars' thread pool (sized like Polars':
//! POLARS_MAX_THREADS), so decoding shares the cores without oversubscribing them.

use polars_core::runtime::THREAD_POOL;
use rayon::prelude::*;

/// Call `f(start, piece)` for consecutive pieces of `data`, `piece` items each (`start`: the
/// index in `data` of the piece's first item): in parallel when `data` holds at least four
/// pieces, otherwise once, on the whole of it. Stops at the first error.
pub(crate) fn try_for_each_piece<T: Send, E: Send>(
    data: &mut [T],
    piece: usize,
    f: impl Fn(usize, &mut [T]) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let piece = piece.max(1);
    if data.len() < 4 * piece {
        return f(0, data);
    }
    THREAD_POOL.install(|| data.par_chunks_mut(piece).enumerate().try_for_each(|(i, p)| f(i * piece, p)))
}

/// [`try_for_each_piece`] for work that cannot fail.
pub(crate) fn for_each_piece<T: Send>(data: &mut [T], piece: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    try_for_each_piece(data, piece, |start, p| {
        f(start, p);
        Ok::<(), std::convert::Infallible>(())
    })
    .unwrap_or_else(|never| match never {})
}
