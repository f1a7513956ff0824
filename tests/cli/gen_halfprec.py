#!/usr/bin/python3
"""Regenerates the half-precision fixtures of test_finetune with PyTorch
(Debian's python3-torch): what torch's .half(), .bfloat16() and .float()
make of values chosen at the rounding edges.

    /usr/bin/python3 tests/cli/gen_halfprec.py

halfprec_load.safetensors  F16, BF16 and F64 tensors (bit patterns: zeros,
    subnormals, the largest finite, inf, nan), each beside torch's .float()
    of it as F32 ("<name>_want"): clgrad must read them as exactly that.
halfprec_save.safetensors  F32 "src" (ties, overflow, subnormals, nan) and
    torch's src.half() / src.bfloat16() bit patterns as I32 ("f16_bits",
    "bf16_bits"): clgrad's --save-dtype rounding must give the same bits."""
import json
import os
import struct
import sys

try:
    import torch
except ImportError as e:  # meson counts exit 77 as skipped
    print("SKIP: pytorch: %s" % e)
    sys.exit(77)

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
NAMES = {torch.float32: "F32", torch.int32: "I32", torch.float16: "F16",
         torch.bfloat16: "BF16", torch.float64: "F64"}


def raw(t):
    t = t.contiguous()
    if t.dtype in (torch.float16, torch.bfloat16):
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def st_save(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = raw(t)
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    torch.manual_seed(13)
    # every F16 bit class: +-0, subnormals (smallest, largest), normals,
    # the largest finite (65504), +-inf, a quiet nan, and random patterns
    f16_bits = [0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x3c00, 0x3555, 0x7bff, 0xfbff,
                0x7c00, 0xfc00, 0x7e00, 0x0200, 0x83ff]
    f16_bits += torch.randint(0, 0x7c00, (17,)).tolist()
    f16 = torch.tensor(f16_bits, dtype=torch.int32).to(torch.int16).view(torch.float16)
    # BF16: the same classes (bf16 subnormals are f32's)
    bf16_bits = [0x0000, 0x8000, 0x0001, 0x007f, 0x0080, 0x3f80, 0x7f7f, 0xff7f, 0x7f80, 0xff80,
                 0x7fc0, 0x3eaa]
    bf16_bits += torch.randint(0, 0x7f80, (12,)).tolist()
    bf16 = torch.tensor(bf16_bits, dtype=torch.int32).to(torch.int16).view(torch.bfloat16)
    f64 = torch.tensor([0.0, -0.0, 1 / 3, 1e-40, 1e-46, 3.4028234e38, -2.5, 1 + 2 ** -24,
                        1 + 3 * 2 ** -24, float("inf"), float("-inf"), 1e-320], dtype=torch.float64)
    f64 = torch.cat([f64, torch.randn(8, dtype=torch.float64)])
    st_save(os.path.join(FIX, "halfprec_load.safetensors"), {
        "f16": f16.reshape(4, 8), "f16_want": f16.float().reshape(4, 8),
        "bf16": bf16.reshape(2, 12), "bf16_want": bf16.float().reshape(2, 12),
        "f64": f64, "f64_want": f64.float(),
    })
    t = 2.0 ** -24  # the f16 subnormal step
    src = [0.0, -0.0, 1.0, 65504.0, 65519.99, 65520.0, 1e6, -1e6, 2 ** -14, t, t / 2, 3 * t / 2,
           0.75 * t, 1e-10, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -14 - t / 2, 0.1, 1 / 3,
           float("nan"), float("inf"), float("-inf"), 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.4e38,
           -3.4028235e38, 1e-39, 2 ** -126 * (1 - 2 ** -9)]
    src = torch.cat([torch.tensor(src, dtype=torch.float32), torch.randn(36) * 100])
    st_save(os.path.join(FIX, "halfprec_save.safetensors"), {
        "src": src,
        "f16_bits": src.half().view(torch.int16).int() & 0xffff,
        "bf16_bits": src.bfloat16().view(torch.int16).int() & 0xffff,
    })
    print("wrote halfprec_load.safetensors and halfprec_save.safetensors to %s" % FIX)


if __name__ == "__main__":
    main()
