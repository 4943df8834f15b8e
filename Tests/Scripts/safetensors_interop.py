"""Reads and writes safetensors files with the reference Python implementation, for
Tests/MetaTrainTests/SafeTensorsInteropTests.swift (run with $METAREC_PYTHON).

    python safetensors_interop.py dump FILE.safetensors OUT.json
        every tensor of FILE (names, dtype, shape, values as float64) and its metadata, as JSON
    python safetensors_interop.py write FILE.safetensors
        writes a small known file with safetensors.numpy.save_file
"""
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file


def dump(path: str, out: str) -> None:
    tensors = load_file(path)
    with safe_open(path, framework="numpy") as f:
        metadata = f.metadata() or {}
        keys = list(f.keys())
    assert sorted(keys) == sorted(tensors), (keys, list(tensors))
    result = {"metadata": metadata, "tensors": {}}
    for name, array in tensors.items():
        result["tensors"][name] = {
            "dtype": str(array.dtype),
            "shape": list(array.shape),
            # float32 -> float64 is exact, and repr round-trips, so the values compare bit for bit.
            "values": [float(x) for x in array.astype(np.float64).ravel(order="C")],
        }
    with open(out, "w") as f:
        json.dump(result, f)


def write(path: str) -> None:
    tensors = {
        "b.vector": np.array([1.5, -2.25, 0.0, 3.0e-39], dtype=np.float32),
        "a.matrix": np.arange(6, dtype=np.float32).reshape(2, 3) / 8,
        "c.cube": (np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 12) * 0.5,
    }
    save_file(tensors, path, metadata={"writer": "python", "model_version": "0123456789abcdef"})


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
