//! Long campaigns past a panic that is already reported (the fuzz crate does not fix `src/`):
//! `NPZ_FUZZ_IGNORE_PANICS=src/decode/mod.rs:268` (comma-separated `file:line`, matched
//! against the end of the panic's file) makes a panic at one of those places end only the
//! current input, instead of aborting the run. Any other panic still aborts as usual. Unset
//! (the default), inputs run exactly as before.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

static IGNORED: AtomicU64 = AtomicU64::new(0);

fn places() -> &'static Option<Vec<(String, u32)>> {
    static PLACES: OnceLock<Option<Vec<(String, u32)>>> = OnceLock::new();
    PLACES.get_or_init(|| {
        let spec = std::env::var("NPZ_FUZZ_IGNORE_PANICS").ok()?;
        let list: Vec<(String, u32)> = spec
            .split(',')
            .filter_map(|p| {
                let (file, line) = p.trim().rsplit_once(':')?;
                Some((file.to_string(), line.parse().ok()?))
            })
            .collect();
        if list.is_empty() {
            return None;
        }
        // libFuzzer's hook (which aborts) stays in charge of every other panic.
        let abort_hook = panic::take_hook();
        let known = list.clone();
        panic::set_hook(Box::new(move |info| {
            let hit = info.location().is_some_and(|l| known.iter().any(|(f, n)| l.file().ends_with(f.as_str()) && l.line() == *n));
            if hit {
                let n = IGNORED.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    eprintln!("NPZ_FUZZ_IGNORE_PANICS: {n} known panics ignored (last: {info})");
                }
            } else {
                abort_hook(info);
            }
        }));
        Some(list)
    })
}

/// Run `f`, ignoring panics at the places listed in `NPZ_FUZZ_IGNORE_PANICS`.
pub fn run(f: impl FnOnce()) {
    if places().is_none() {
        return f();
    }
    let _ = panic::catch_unwind(AssertUnwindSafe(f));
}
