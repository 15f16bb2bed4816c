"""`safetensors.torch` of the pure-Python stand-in (see `__init__.py`)."""

import json
import os
import struct
import tempfile

from . import SafetensorError, _dtype_table, _read_header, _tensor_from_bytes, safe_open


def load(data):
    header, offset = _read_header(data)
    header.pop("__metadata__", None)
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        out[name] = _tensor_from_bytes(data[offset + begin : offset + end], info["dtype"], info["shape"])
    return out


def load_file(filename, device="cpu"):
    with safe_open(filename, framework="pt", device=device) as handle:
        return {name: handle.get_tensor(name) for name in handle.keys()}


def save(tensors, metadata=None):
    names = {dtype: name for name, dtype in _dtype_table().items()}
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        if tensor.dtype not in names:
            raise SafetensorError(f"unsupported dtype {tensor.dtype} for {name}")
        # view as bytes through a same-width integer dtype (numpy has no bfloat16)
        raw = tensor.reshape(-1).view(torch_uint8()).numpy().tobytes() if tensor.numel() else b""
        header[name] = {
            "dtype": names[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks)


def save_file(tensors, filename, metadata=None):
    data = save(tensors, metadata)
    directory = os.path.dirname(os.path.abspath(filename))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".safetensors-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, filename)


def torch_uint8():
    import torch

    return torch.uint8


def storage_ptr(tensor):
    """Address of the tensor's storage: transformers uses it to find tied (shared) weights."""
    try:
        return tensor.untyped_storage().data_ptr()
    except AttributeError:  # torch < 2.0
        return tensor.storage().data_ptr()


def storage_size(tensor):
    try:
        return tensor.untyped_storage().nbytes()
    except AttributeError:  # torch < 2.0
        return tensor.storage().size() * tensor.element_size()
