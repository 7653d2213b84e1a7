//! A `Read + Seek` view of a byte source through a window of 8 KiB, for the zip crate's
//! index reader: reading a zip index seeks to every member's local header, which in an
//! archive of small members lie close together, so most seeks and reads cost no read of the
//! source.

use std::io::Read;

use super::ByteSource;

/// Reads a byte source through a window of 8 KiB: seeks inside the window, and reads of the bytes
/// it holds, cost no system call (reading a zip index seeks to every member's local header,
/// which in an archive of small members lie close together).
pub(crate) struct WindowReader<'a> {
    source: &'a dyn ByteSource,
    len: u64,
    pos: u64,
    /// File offset of `buf[0]`.
    start: u64,
    buf: Vec<u8>,
    window: usize,
}

impl<'a> WindowReader<'a> {
    /// A reader of `source`: windows of 8 KiB (measured best for local archives of both few
    /// large and many small members); none for a remote source.
    pub(crate) fn new(source: &'a dyn ByteSource) -> WindowReader<'a> {
        // A remote source serves the index from the bytes fetched at open and prefetched in
        // batches: reads go through as asked, with no window around them.
        let window = if source.is_remote() { 0 } else { 8 * 1024 };
        WindowReader { source, len: source.len(), pos: 0, start: 0, buf: Vec::new(), window }
    }
}

impl Read for WindowReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let in_window = self.pos >= self.start && self.pos < self.start + self.buf.len() as u64;
        if !in_window {
            if self.pos >= self.len {
                return Ok(0);
            }
            if out.len() >= self.window {
                let n = out.len().min((self.len - self.pos) as usize);
                self.source.read_exact_at(&mut out[..n], self.pos)?;
                self.pos += n as u64;
                return Ok(n);
            }
            let n = (self.len - self.pos).min(self.window as u64) as usize;
            self.buf.resize(n, 0);
            self.source.read_exact_at(&mut self.buf, self.pos)?;
            self.start = self.pos;
        }
        let at = (self.pos - self.start) as usize;
        let n = out.len().min(self.buf.len() - at);
        out[..n].copy_from_slice(&self.buf[at..at + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for WindowReader<'_> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            std::io::SeekFrom::Start(p) => Some(p),
            std::io::SeekFrom::End(d) => self.len.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start of the file"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::{Cursor, Read, Seek, SeekFrom};

    #[derive(Debug, Clone)]
    enum Op {
        Seek(SeekFrom),
        Read(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..300_000).prop_map(|p| Op::Seek(SeekFrom::Start(p))),
            (-300_000i64..10).prop_map(|d| Op::Seek(SeekFrom::End(d))),
            (-100_000i64..100_000).prop_map(|d| Op::Seek(SeekFrom::Current(d))),
            prop_oneof![0usize..100, 7_000usize..20_000].prop_map(Op::Read),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// Reads and seeks through the window give what a cursor over the same bytes gives.
        #[test]
        fn window_reader_reads_like_a_cursor(len in 0usize..200_000, ops in proptest::collection::vec(op(), 1..40)) {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let source = crate::source::from_bytes(&data).unwrap();
            let mut window = WindowReader::new(&*source);
            let mut cursor = Cursor::new(&data);
            for op in ops {
                match op {
                    Op::Seek(to) => {
                        let (a, b) = (window.seek(to), cursor.seek(to));
                        prop_assert_eq!(a.is_ok(), b.is_ok());
                        if let (Ok(a), Ok(b)) = (a, b) {
                            prop_assert_eq!(a, b);
                        }
                    }
                    Op::Read(n) => {
                        let (mut a, mut b) = (vec![0u8; n], vec![0u8; n]);
                        let got = window.read(&mut a).unwrap();
                        let want = cursor.read(&mut b).unwrap();
                        // Either may return a short read; what it returns must match the data.
                        let pos = cursor.position() as usize - want;
                        prop_assert!(got <= n);
                        prop_assert_eq!(&a[..got], &data[pos.min(len)..(pos + got).min(len)]);
                        prop_assert_eq!(&b[..want], &data[pos.min(len)..(pos + want).min(len)]);
                        prop_assert_eq!(got == 0, want == 0);
                        // Keep both at the same position.
                        cursor.seek(SeekFrom::Start((pos + got) as u64)).unwrap();
                    }
                }
            }
        }
    }
}
