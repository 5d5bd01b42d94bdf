"""Which 8-bit dot-product instructions this CPU has: what decides how much faster an INT8 model runs on it.

An INT8 convolution multiplies 8-bit numbers and adds the products into 32-bit sums. CPUs with a dot-product
instruction do that in one step (x86: AVX-512 VNNI from Intel Cascade Lake and AMD Zen 4, AVX-VNNI from Intel
Alder Lake, AMX-INT8 from Sapphire Rapids; Arm: the SDOT/UDOT "dotprod" and I8MM extensions). Without one, ONNX
Runtime's x86 kernels fall back to AVX2's VPMADDUBSW + VPMADDWD pair (ONNX Runtime, "Quantize ONNX models":
"On x86-64 machines with AVX2 and AVX512 extensions, ONNX Runtime uses the VPMADDUBSW instruction for U8S8"), which
gains far less over float. Measured with bench/deploy.py on a 2-core AMD EPYC with AVX2 only, static INT8 ran
1.3-1.8 times faster than float on ResNet-18 at 224 px and 0.9-1.5 times on the recommended small CNN; on the
2-core EPYC of an earlier session (its flags were not recorded), 3.3 times on ResNet-18. The Export tab and the
model card say which case a timing was taken in, so that a small speed-up is not read as a fault of the export.

Linux only reads the flags (from /proc/cpuinfo); elsewhere the answer is "unknown" (None).
"""
from __future__ import annotations

from pathlib import Path

# flag in /proc/cpuinfo -> the instruction set's usual name, fastest first
DOT_PRODUCT_FLAGS = {
    "amx_int8": "AMX-INT8",
    "avx512_vnni": "AVX-512 VNNI",
    "avx_vnni": "AVX-VNNI",
    "i8mm": "Arm I8MM",
    "asimddp": "Arm dot product (SDOT/UDOT)",
}


def cpu_flags(cpuinfo: str | None = None) -> set[str] | None:
    """The first processor's feature flags ("flags" on x86, "Features" on Arm) from /proc/cpuinfo's text
    (`cpuinfo`, read from the file when None), or None where there is no such file or line."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return set(value.split())
    return None


def dot_product_instructions(flags: set[str] | None = None) -> list[str] | None:
    """Names of the CPU's 8-bit dot-product instruction sets (see DOT_PRODUCT_FLAGS), [] when it has none, None when
    unknown. `flags` defaults to `cpu_flags()`."""
    flags = cpu_flags() if flags is None else flags
    if flags is None:
        return None
    return [name for flag, name in DOT_PRODUCT_FLAGS.items() if flag in flags]


def int8_hardware_text(flags: set[str] | None = None) -> str:
    """One sentence on what this CPU brings to INT8 speed, for the timing note of the side-by-side table."""
    flags = cpu_flags() if flags is None else flags
    found = dot_product_instructions(flags)
    if found is None:
        return "This CPU's 8-bit instructions could not be read, so the INT8 speed-up may differ on another CPU."
    if found:
        return f"This CPU has 8-bit dot-product instructions ({', '.join(found)}), which INT8 kernels use."
    fallback = "AVX2" if "avx2" in flags else "its vector"
    return ("This CPU has no 8-bit dot-product instructions (AVX-512 VNNI, AVX-VNNI, AMX or Arm dotprod), so INT8 "
            f"runs on {fallback} multiply-adds and gains less speed than on CPUs that have them.")
