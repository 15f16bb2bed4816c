"""A small pure-Python stand-in for the `safetensors` package (PyPI is not reachable here).

Only what Hugging Face transformers 4.43 calls is provided: `safe_open` (keys, get_tensor,
get_slice, metadata) and `safetensors.torch.{load_file, save_file, load, save}`. The file layout
follows the format's spec: an 8-byte little-endian header length, a JSON header, then the data.
"""

import json
import struct

__version__ = "0.4.3"


class SafetensorError(Exception):
    pass


_TORCH_DTYPES = None


def _dtype_table():
    global _TORCH_DTYPES
    if _TORCH_DTYPES is None:
        import torch

        _TORCH_DTYPES = {
            "F64": torch.float64,
            "F32": torch.float32,
            "F16": torch.float16,
            "BF16": torch.bfloat16,
            "I64": torch.int64,
            "I32": torch.int32,
            "I16": torch.int16,
            "I8": torch.int8,
            "U8": torch.uint8,
            "BOOL": torch.bool,
        }
    return _TORCH_DTYPES


def _read_header(data):
    if len(data) < 8:
        raise SafetensorError("file too small for a safetensors header")
    (length,) = struct.unpack("<Q", data[:8])
    if 8 + length > len(data):
        raise SafetensorError("header length exceeds the file")
    header = json.loads(data[8 : 8 + length].decode("utf-8"))
    return header, 8 + length


def _tensor_from_bytes(raw, dtype_name, shape):
    import torch

    dtype = _dtype_table().get(dtype_name)
    if dtype is None:
        raise SafetensorError(f"unsupported dtype {dtype_name}")
    count = 1
    for dim in shape:
        count *= dim
    if count == 0:
        return torch.empty(shape, dtype=dtype)
    # frombuffer needs a writable buffer to avoid a warning; copy once into a bytearray.
    return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape).clone()


class _Slice:
    def __init__(self, tensor):
        self._tensor = tensor

    def get_shape(self):
        return list(self._tensor.shape)

    def get_dtype(self):
        return str(self._tensor.dtype)

    def __getitem__(self, index):
        return self._tensor[index]


class safe_open:
    def __init__(self, filename, framework="pt", device="cpu"):
        with open(filename, "rb") as handle:
            self._data = handle.read()
        self._header, self._offset = _read_header(self._data)
        self._metadata = self._header.pop("__metadata__", None)
        self._device = device

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def keys(self):
        return list(self._header.keys())

    def metadata(self):
        return self._metadata

    def get_tensor(self, name):
        info = self._header[name]
        begin, end = info["data_offsets"]
        raw = self._data[self._offset + begin : self._offset + end]
        tensor = _tensor_from_bytes(raw, info["dtype"], info["shape"])
        return tensor.to(self._device) if self._device != "cpu" else tensor

    def get_slice(self, name):
        return _Slice(self.get_tensor(name))
