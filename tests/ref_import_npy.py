"""Writes reference inputs for tests/test_import.c with NumPy's own writers.

usage: ref_import_npy.py DIR

In DIR: .npy files from np.save / np.lib.format.write_array (format versions
1.0, 2.0 and 3.0, float16, float32 and float64, both byte orders, C and
Fortran order, 1-D, plus dtypes and ranks vclip must refuse), and wds.tar, a WebDataset shard written by tarfile in PAX format with
a non-ASCII key and a key longer than ustar's 100-byte name field. Values are
arange(n*D) * 0.25 - 3, exact in float16, so the C side recomputes them.
"""
import io
import sys
import tarfile

import numpy as np


def values(n, d, dtype):
    return (np.arange(n * d, dtype=np.float64).reshape(n, d) * 0.25 - 3).astype(dtype)


def write(path, arr, version=None):
    with open(path, "wb") as f:
        if version is None:
            np.save(f, arr)
        else:
            np.lib.format.write_array(f, arr, version=version)


def npy_bytes(arr):
    f = io.BytesIO()
    np.save(f, arr)
    return f.getvalue()


def main():
    out = sys.argv[1]
    write(f"{out}/f32_v1.npy", values(7, 5, np.float32))
    write(f"{out}/f16_v1.npy", values(7, 5, np.float16))
    write(f"{out}/f32_v2.npy", values(7, 5, np.float32), version=(2, 0))
    write(f"{out}/f16_v3.npy", values(7, 5, np.float16), version=(3, 0))
    write(f"{out}/vec_1d.npy", values(1, 5, np.float32).reshape(5))
    write(f"{out}/empty.npy", values(0, 5, np.float32))
    write(f"{out}/f64.npy", values(7, 5, np.float64))
    write(f"{out}/big_endian.npy", values(7, 5, np.dtype(">f4")))
    write(f"{out}/be_f2.npy", values(7, 5, np.dtype(">f2")))
    write(f"{out}/be_f8.npy", values(7, 5, np.dtype(">f8")))
    write(f"{out}/fortran.npy", np.asfortranarray(values(7, 5, np.float32)))
    write(f"{out}/fortran_f64_be.npy", np.asfortranarray(values(7, 5, np.dtype(">f8"))))
    write(f"{out}/three_d.npy", values(6, 5, np.float32).reshape(2, 3, 5))
    write(f"{out}/int32.npy", np.arange(35, dtype=np.int32).reshape(7, 5))
    write(f"{out}/complex.npy", values(7, 5, np.complex64))

    long_key = "clips/" + "x" * 120
    members = [
        ("vidé/ü1.npy", npy_bytes(values(3, 5, np.float16))),
        ("vidé/ü1.txt", "café ☕ au lait".encode("utf-8")),
        ("vidé/ü1.json", b'{"videoID": "abc", "start": 0.0}'),
        (long_key + ".npy", npy_bytes(values(2, 5, np.float16))),
        (long_key + ".txt", b"a long key"),
    ]
    with tarfile.open(f"{out}/wds.tar", "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    print("ok")


if __name__ == "__main__":
    main()
