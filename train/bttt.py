"""Reader and writer of the .bttt model file, version 1 (docs/FORMAT.md).

Layout: b"BTTT", u32 version, u32 header length, u32 CRC-32 of the header, UTF-8 JSON header, zero padding to a
multiple of 64, then tensors at 64-byte aligned offsets. dtypes: f32, f16, t158 (f32 scale + 5 trits per byte).
"""
from __future__ import annotations

import json
import struct
import zlib
from typing import Any, Dict, List, Tuple, Union

import numpy as np

MAGIC = b"BTTT"
VERSION = 1
ALIGN = 64
MAX_HEADER = 16 * 1024 * 1024


class BtttError(ValueError):
    """A malformed .bttt file; `code` is FORMAT.md's error code."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


def expected_tensors(c: Dict[str, Any]) -> List[Tuple[str, str, List[int]]]:
    """(name, role, shape) in MATH.md order; the Python twin of src/engine/model/spec.ts expectedTensors."""
    d, H, Fh, V = c["dModel"], c["nHeads"], c["ffnHidden"], c["vocabSize"]
    f, t = d // H, c["ttt"]
    a = c.get("attn", {})  # absent in files written before config.attn existed: plain attention
    out: List[Tuple[str, str, List[int]]] = [("tok_embed", "float", [V, d])]
    if not c["tieEmbeddings"]:
        out.append(("lm_head", "float", [V, d]))
    out.append(("final_norm", "float", [d]))
    for i, mixer in enumerate(c["mixers"]):
        p = f"l{i}."
        out.append((p + "mixer_norm", "float", [d]))
        if mixer == "ttt":
            if t["shareQK"]:
                out.append((p + "ttt.wqk", "ternary", [d, d]))
            else:
                out += [(p + "ttt.wq", "ternary", [d, d]), (p + "ttt.wk", "ternary", [d, d])]
            out += [(p + "ttt.wv", "ternary", [d, d]), (p + "ttt.wo", "ternary", [d, d])]
            if t["gate"]:
                out.append((p + "ttt.wg", "ternary", [d, d]))
            if t["convKernel"] > 0:
                out += [(p + "ttt.conv_q", "float", [d, t["convKernel"]]), (p + "ttt.conv_k", "float", [d, t["convKernel"]])]
            out += [
                (p + "ttt.lr_w", "float", [H, d]),
                (p + "ttt.lr_b", "float", [H]),
                (p + "ttt.tok_offset", "float", [t["miniBatch"]]),
                (p + "ttt.ln_w", "float", [H, f]),
                (p + "ttt.ln_b", "float", [H, f]),
                (p + "ttt.w_init", "float", [H, f, f]),
                (p + "ttt.b_init", "float", [H, f]),
                (p + "ttt.post_norm_w", "float", [d]),
                (p + "ttt.post_norm_b", "float", [d]),
            ]
        else:
            out += [(p + "attn." + w, "ternary", [d, d]) for w in ("wq", "wk", "wv")]
            if a.get("gate", False):
                out.append((p + "attn.wg", "ternary", [d, d]))
            if a.get("convKernel", 0) > 0:
                out += [(p + "attn." + w, "float", [d, a["convKernel"]]) for w in ("conv_q", "conv_k", "conv_v")]
            out += [(p + "attn.subnorm", "float", [d]), (p + "attn.wo", "ternary", [d, d])]
        out += [
            (p + "ffn_norm", "float", [d]),
            (p + "ffn.w1", "ternary", [Fh, d]),
            (p + "ffn.w3", "ternary", [Fh, d]),
            (p + "ffn.subnorm", "float", [Fh]),
            (p + "ffn.w2", "ternary", [d, Fh]),
        ]
    return out


def check_tokenizer(tokenizer: Dict[str, Any], vocab_size: int) -> None:
    if not isinstance(tokenizer, dict) or tokenizer.get("type") != "bpe":
        raise BtttError("HEADER_SCHEMA", 'tokenizer must be an object with type "bpe"')
    merges, specials = tokenizer.get("merges"), tokenizer.get("specials")
    if not isinstance(merges, list) or not isinstance(specials, dict):
        raise BtttError("HEADER_SCHEMA", "tokenizer needs merges (list) and specials (object)")
    if 256 + len(merges) + len(specials) != vocab_size:
        raise BtttError(
            "HEADER_SCHEMA",
            f"vocabulary does not add up: 256 + {len(merges)} merges + {len(specials)} specials != vocabSize {vocab_size}",
        )


def pack_t158(values: np.ndarray) -> bytes:
    """5 trits per byte, byte j = Σ_m (w[5j+m] + 1)·3^m; trits past n are weight 0 (digit 1)."""
    v = values.reshape(-1).astype(np.int16)
    if v.size and (v.min() < -1 or v.max() > 1):
        raise ValueError("t158 values must be in {-1, 0, 1}")
    n = v.size
    digits = np.ones(((n + 4) // 5) * 5, dtype=np.int16)
    digits[:n] = v + 1
    digits = digits.reshape(-1, 5)
    packed = (digits * np.array([1, 3, 9, 27, 81], dtype=np.int16)).sum(1)
    return packed.astype(np.uint8).tobytes()


def unpack_t158(data: bytes, n: int) -> np.ndarray:
    b = np.frombuffer(data, dtype=np.uint8).astype(np.int16)
    if b.size and b.max() > 242:
        raise BtttError("BAD_TRIT", "a t158 byte is over 242")
    digits = np.stack([(b // p) % 3 for p in (1, 3, 9, 27, 81)], axis=1).reshape(-1)
    return (digits[:n] - 1).astype(np.int8)


TensorValue = Union[np.ndarray, Tuple[np.ndarray, float]]


def encode_tensor(dtype: str, value: TensorValue) -> bytes:
    if dtype == "f32":
        arr = np.asarray(value, dtype="<f4")
        if not np.isfinite(arr).all():
            raise ValueError("NaN or infinity in an f32 tensor")
        return arr.tobytes()
    if dtype == "f16":
        arr = np.asarray(value, dtype=np.float32)
        half = arr.astype("<f2")
        if not np.isfinite(half).all():
            raise ValueError("a value overflows f16 (or is NaN)")
        return half.tobytes()
    if dtype == "t158":
        values, scale = value  # type: ignore[misc]
        if not (np.isfinite(scale) and scale >= 0):
            raise ValueError(f"t158 scale must be finite and non-negative, got {scale}")
        return struct.pack("<f", float(scale)) + pack_t158(np.asarray(values))
    raise ValueError(f"unknown dtype {dtype}")


def write_bttt(path: str, config: Dict[str, Any], tokenizer: Dict[str, Any], metadata: Dict[str, Any],
               tensors: List[Tuple[str, str, List[int], TensorValue]]) -> int:
    """tensors: (name, dtype, shape, value) in file order. Returns the file size."""
    check_tokenizer(tokenizer, config["vocabSize"])
    table, blobs, offset = [], [], 0
    for name, dtype, shape, value in tensors:
        blob = encode_tensor(dtype, value)
        n = int(np.prod(shape))
        expected_len = {"f32": 4 * n, "f16": 2 * n, "t158": 4 + (n + 4) // 5}[dtype]
        if len(blob) != expected_len:
            raise ValueError(f"{name}: {len(blob)} bytes for {dtype} {shape}, expected {expected_len}")
        table.append({"name": name, "dtype": dtype, "shape": list(shape), "offset": offset, "length": len(blob),
                      "crc32": zlib.crc32(blob) & 0xFFFFFFFF})
        blobs.append((offset, blob))
        offset = ((offset + len(blob) + ALIGN - 1) // ALIGN) * ALIGN
    header = json.dumps({"config": config, "tokenizer": tokenizer, "metadata": metadata, "tensors": table},
                        separators=(",", ":")).encode("utf-8")
    if len(header) > MAX_HEADER:
        raise ValueError("header over 16 MiB")
    data_start = ((16 + len(header) + ALIGN - 1) // ALIGN) * ALIGN
    end = max((o + len(b) for o, b in blobs), default=0)
    buf = bytearray(data_start + end)
    buf[0:16] = MAGIC + struct.pack("<III", VERSION, len(header), zlib.crc32(header) & 0xFFFFFFFF)
    buf[16 : 16 + len(header)] = header
    for o, b in blobs:
        buf[data_start + o : data_start + o + len(b)] = b
    with open(path, "wb") as fh:
        fh.write(buf)
    return len(buf)


def read_bttt(path: str) -> Dict[str, Any]:
    """Parse and verify a file; returns {config, tokenizer, metadata, tensors: {name: ndarray | (int8 values, scale)}, dtypes}."""
    with open(path, "rb") as fh:
        buf = fh.read()
    if len(buf) < 16:
        raise BtttError("TRUNCATED", "file shorter than the 16-byte preamble")
    if buf[:4] != MAGIC:
        raise BtttError("BAD_MAGIC", f"magic is {buf[:4]!r}")
    version, hl, crc = struct.unpack("<III", buf[4:16])
    if version != VERSION:
        raise BtttError("UNSUPPORTED_VERSION", f"version {version}")
    if hl < 2 or hl > MAX_HEADER:
        raise BtttError("HEADER_TOO_LARGE", f"header length {hl}")
    if len(buf) < 16 + hl:
        raise BtttError("TRUNCATED", "file ends inside the header")
    header_bytes = buf[16 : 16 + hl]
    if zlib.crc32(header_bytes) & 0xFFFFFFFF != crc:
        raise BtttError("HEADER_CHECKSUM", "header CRC-32 mismatch")
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BtttError("HEADER_JSON", str(e)) from e
    if not isinstance(header, dict):
        raise BtttError("HEADER_JSON", "header is not an object")
    data_start = ((16 + hl + ALIGN - 1) // ALIGN) * ALIGN
    end, tensors, dtypes = 0, {}, {}
    for t in header["tensors"]:
        name, dtype, shape, off, length = t["name"], t["dtype"], t["shape"], t["offset"], t["length"]
        if name in tensors:
            raise BtttError("DUPLICATE_TENSOR", name)
        n = int(np.prod(shape))
        want = {"f32": 4 * n, "f16": 2 * n, "t158": 4 + (n + 4) // 5}.get(dtype)
        if want is None:
            raise BtttError("UNKNOWN_DTYPE", f"{name}: {dtype}")
        if want != length:
            raise BtttError("LENGTH_MISMATCH", name)
        if off % ALIGN:
            raise BtttError("OUT_OF_RANGE", f"{name}: offset {off} not aligned")
        blob = buf[data_start + off : data_start + off + length]
        if len(blob) != length:
            raise BtttError("TRUNCATED", f"{name} runs past the end of the file")
        if zlib.crc32(blob) & 0xFFFFFFFF != t["crc32"]:
            raise BtttError("TENSOR_CHECKSUM", name)
        end = max(end, off + length)
        if dtype == "f32":
            tensors[name] = np.frombuffer(blob, dtype="<f4").reshape(shape).copy()
        elif dtype == "f16":
            tensors[name] = np.frombuffer(blob, dtype="<f2").astype(np.float32).reshape(shape)
        else:
            scale = struct.unpack("<f", blob[:4])[0]
            if not (np.isfinite(scale) and scale >= 0):
                raise BtttError("BAD_TRIT", f"{name}: scale {scale}")
            tensors[name] = (unpack_t158(blob[4:], n).reshape(shape), scale)
        dtypes[name] = dtype
    if len(buf) > data_start + end:
        raise BtttError("TRAILING_DATA", f"{len(buf) - data_start - end} bytes after the last tensor")
    want_names = {n: s for n, _, s in expected_tensors(header["config"])}
    for name in want_names:
        if name not in tensors:
            raise BtttError("MISSING_TENSOR", name)
    for name in tensors:
        if name not in want_names:
            raise BtttError("UNEXPECTED_TENSOR", name)
    check_tokenizer(header["tokenizer"], header["config"]["vocabSize"])
    return {"config": header["config"], "tokenizer": header["tokenizer"], "metadata": header["metadata"],
            "tensors": tensors, "dtypes": dtypes, "bytes": len(buf)}
