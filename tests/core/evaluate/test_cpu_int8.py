"""core.evaluate.cpu_int8: which 8-bit dot-product instructions a CPU has, read from /proc/cpuinfo's text."""
from core.evaluate import cpu_int8
from core.evaluate.cpu_int8 import cpu_flags, dot_product_instructions, int8_hardware_text

# shortened /proc/cpuinfo of the machines these were written on and of the CPUs users bring
AVX2_EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 hypervisor
processor\t: 1
flags\t\t: fpu avx2 avx512_vnni
"""
ZEN4 = "model name\t: AMD EPYC 9654\nflags\t\t: fpu avx2 avx512f avx512bw avx512_vnni avx512_bf16\n"
SAPPHIRE_RAPIDS = "flags\t\t: avx2 avx512_vnni avx_vnni amx_tile amx_int8 amx_bf16\n"
GRAVITON3 = "processor\t: 0\nBogoMIPS\t: 2100.00\nFeatures\t: fp asimd aes crc32 atomics asimddp sve i8mm bf16\n"
OLD_ARM = "Features\t: fp asimd evtstrm crc32\n"


def test_flags_of_the_first_processor_on_x86_and_arm():
    assert "avx2" in cpu_flags(AVX2_EPYC) and "avx512_vnni" not in cpu_flags(AVX2_EPYC)
    assert "asimddp" in cpu_flags(GRAVITON3)
    assert cpu_flags("processor\t: 0\nmodel name\t: something\n") is None


def test_dot_product_instructions_fastest_first():
    assert dot_product_instructions(cpu_flags(AVX2_EPYC)) == []
    assert dot_product_instructions(cpu_flags(ZEN4)) == ["AVX-512 VNNI"]
    assert dot_product_instructions(cpu_flags(SAPPHIRE_RAPIDS)) == ["AMX-INT8", "AVX-512 VNNI", "AVX-VNNI"]
    assert dot_product_instructions(cpu_flags(GRAVITON3)) == ["Arm I8MM", "Arm dot product (SDOT/UDOT)"]
    assert dot_product_instructions(cpu_flags(OLD_ARM)) == []


def test_sentence_says_what_the_cpu_brings():
    without = int8_hardware_text(cpu_flags(AVX2_EPYC))
    assert without.startswith("This CPU has no 8-bit dot-product instructions") and "AVX2 multiply-adds" in without
    assert "its vector multiply-adds" in int8_hardware_text(cpu_flags(OLD_ARM))
    assert "(AVX-512 VNNI)" in int8_hardware_text(cpu_flags(ZEN4))
    assert "its vector multiply-adds" in int8_hardware_text(set())


def test_unknown_cpu_says_so(monkeypatch):
    monkeypatch.setattr(cpu_int8, "cpu_flags", lambda cpuinfo=None: None)
    assert cpu_int8.dot_product_instructions() is None
    assert "could not be read" in cpu_int8.int8_hardware_text()


def test_this_machine_gives_a_list_or_none():
    found = dot_product_instructions()
    assert found is None or all(name in {"AMX-INT8", "AVX-512 VNNI", "AVX-VNNI", "Arm I8MM",
                                         "Arm dot product (SDOT/UDOT)"} for name in found)
