"""Write a sample .npz archive with numpy: some members stored (np.savez), some deflated."""

import sys
import zipfile

import numpy as np

path = sys.argv[1] if len(sys.argv) > 1 else "sample.npz"
rng = np.random.default_rng(42)
n = 100_000
stored = {
    "sensor": rng.integers(0, 8, n).astype(np.int16),
    "temperature": rng.normal(20.0, 5.0, n),
    "ok": rng.random(n) > 0.1,
}
deflated = {
    "pressure": rng.normal(1013.0, 10.0, n).astype(np.float32),
    "position": rng.random((n, 3)),
}
np.savez(path, **stored)
# Add the deflated members to the same archive, as np.savez_compressed writes them.
with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
    for name, arr in deflated.items():
        with zf.open(name + ".npy", "w", force_zip64=True) as f:
            np.lib.format.write_array(f, arr, allow_pickle=False)
print(f"wrote {path}: {n} rows; stored: {', '.join(stored)}; deflated: {', '.join(deflated)}")
