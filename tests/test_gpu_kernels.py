"""The CUDA sources: NVRTC compiles them for real GPUs; the host emulator runs them.

The emulator runs the same sources through the shared launch code (the path
the CUDA backend takes) and must match the CPU backend (drizzle, and our numpy
tophat); the same tests run on ``backend="cuda"`` where a GPU exists.
"""

import numpy as np
import pytest
from conftest import rotated_pixmap

from gpuresample import Drizzle, kernel_files
from gpuresample.gpu import sources
from gpuresample.gpu.signatures import check_args, kernel_signatures, parse_macros, parse_signatures


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_every_cu_compiles_with_nvrtc(arch, capsys):
    pytest.importorskip("cuda.bindings.nvrtc", reason="needs the cuda-bindings and nvidia-cuda-nvrtc wheels")
    from gpuresample.gpu.nvrtc_check import compile_source

    sources = [p for p in kernel_files() if p.suffix == ".cu"]
    assert sources
    lines = []
    for path in sources:
        res = compile_source(path, arch)
        assert res.ok, res.log
        assert "warning" not in res.log.lower(), res.log
        assert res.registers, res.log
        assert all(v == 0 for v in res.spills.values()), res.spills
        lines += [f"{arch} {path.name}:{k} {v} registers, 0 spills" for k, v in sorted(res.registers.items())]
    with capsys.disabled():
        print("\n" + "\n".join(lines))


def test_signatures_and_argument_checks():
    sigs = kernel_signatures()
    assert {"drizzle_point", "drizzle_square", "drizzle_tophat", "merge_image"} <= set(sigs)
    sig = sigs["merge_image"]
    good = (np.zeros(4), np.zeros(4), np.int64(4), np.zeros(4, np.float32), np.zeros(4, np.float32),
            None, None, np.int32(0), np.float32(0), None, np.int32(0), np.zeros(1, np.uint32))
    check_args(sig, good)
    with pytest.raises(TypeError, match="numpy int64 scalar"):
        check_args(sig, (*good[:2], 4, *good[3:]))  # a Python int
    with pytest.raises(TypeError, match="must have dtype float32"):
        check_args(sig, (*good[:3], np.zeros(4), *good[4:]))
    with pytest.raises(TypeError, match="expected 12 arguments"):
        check_args(sig, good[:-1])


def _kernel_backend(name):
    """A kernel backend to test, or a skip with the reason it cannot run here."""
    if name == "cuda":
        from gpuresample.backends import cuda_unavailable_reason

        reason = cuda_unavailable_reason()
        if reason:
            pytest.skip(f"no CUDA here: {reason}")
    return name


BACKENDS = ["emulator", "cuda"]  # the same tests run on a GPU when one exists


def _inputs(seed, psr, n=35):
    rng = np.random.default_rng(seed)
    shape = (23, 31)
    for k in range(n):
        pm = rotated_pixmap(shape, rng.uniform(0, 360), psr, (23 + rng.uniform(-18, 18), 20 + rng.uniform(-16, 16)),
                            curvature=0.3 * (k % 2))
        if k % 3 == 0:
            pm[rng.random(shape) < 0.02] = np.nan
        elif k % 3 == 1:
            pm[:, :2] = np.nan
        data = rng.normal(3.0, 1.0, shape).astype(np.float32)
        wht = rng.uniform(0.2, 2.0, shape).astype(np.float32)
        wht[rng.random(shape) < 0.05] = 0.0
        dq = rng.integers(0, 1 << 12, shape).astype(np.uint32)
        data2 = [rng.uniform(0.1, 1.0, shape).astype(np.float32), rng.uniform(0.5, 2.0, shape).astype(np.float32)]
        yield dict(data=data, exptime=10.0 + k, pixmap=pm, weight_map=wht, dq=dq, iscale=1.0 + 0.01 * k,
                   wht_scale=1.0 + 0.1 * (k % 3), data2=data2)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel", ["point", "square", "turbo", "gaussian", "lanczos2", "lanczos3", "tophat"])
@pytest.mark.parametrize("pixfrac", [1.0, 0.5, 0.1])
@pytest.mark.parametrize("psr", [0.5, 1.0, 1.5])
def test_kernels_match_cpu(backend, kernel, pixfrac, psr):
    out_shape = (41, 47)
    cpu = Drizzle(kernel=kernel, out_shape=out_shape, backend="cpu")
    emu = Drizzle(kernel=kernel, out_shape=out_shape, backend=_kernel_backend(backend))
    for kw in _inputs(int(pixfrac * 10 + psr * 100), psr):
        r_cpu = cpu.add_image(pixfrac=pixfrac, pixel_scale_ratio=psr, **kw)
        r_emu = emu.add_image(pixfrac=pixfrac, pixel_scale_ratio=psr, **kw)
        if kernel != "tophat":
            assert r_cpu == r_emu  # drizzle's (nmiss, nskip)
    # same pixels covered, context and DQ exactly; values to float32 rounding of
    # a running mean vs sums divided once (rel 1e-5, absolute part scaled by max|data|)
    np.testing.assert_array_equal(emu.out_wht > 0, cpu.out_wht > 0)
    np.testing.assert_array_equal(emu.out_ctx, cpu.out_ctx)
    np.testing.assert_array_equal(emu.out_dq, cpu.out_dq)
    good = cpu.out_wht != 0  # lanczos lobes give negative weights too
    # Where the total weight is in float32's denormal range (gaussian at
    # pixfrac 0.1 reaches 1e-42), drizzle's float32 running mean has lost
    # precision; compare values only where the weight is a normal float.
    normal = np.abs(cpu.out_wht) >= np.finfo(np.float32).tiny
    if kernel.startswith("lanczos"):
        # positive and negative lobes can cancel: where the total weight is
        # ~0 the mean is ill-conditioned (values of 1e3 from data of ~3), and
        # drizzle's float32 running mean and our float64 sums legitimately
        # differ; compare where the total weight is not a near-cancellation
        normal &= np.abs(cpu.out_wht) > 1e-3 * np.abs(cpu.out_wht).max()
    np.testing.assert_array_equal(emu.out_wht != 0, good)
    np.testing.assert_allclose(emu.out_wht[good], cpu.out_wht[good], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(emu.out_img[normal], cpu.out_img[normal], rtol=1e-5, atol=1e-5 * 7.0)
    assert np.all(np.isfinite(emu.out_img[good]))
    # data2 uses squared weights, which drizzle squares in float32: below
    # sqrt(FLT_MIN) ~ 1e-19 they underflow to 0 there (not in our float64)
    normal2 = normal & (np.abs(cpu.out_wht) >= np.sqrt(np.finfo(np.float32).tiny))
    for a, b in zip(emu.out_img2, cpu.out_img2, strict=True):
        np.testing.assert_allclose(a[normal2], b[normal2], rtol=1e-5, atol=1e-5 * 2.0)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    assert np.all(np.isnan(emu.out_img[~good])) and np.all(np.isnan(cpu.out_img[~good]))
    assert np.any(cpu.out_ctx[1])  # > 32 inputs


def _launch_spy(monkeypatch, backend):
    """Record (name, {param: arg}) of every kernel launch of a kernel backend."""
    from gpuresample.backends import get_backend

    module = get_backend(backend).kernels.module
    sigs = kernel_signatures()
    real = module.launch
    calls = []

    def spy(name, grid, block, args):
        calls.append((name, dict(zip([p.name for p in sigs[name].params], args, strict=True))))
        return real(name, grid, block, args)

    monkeypatch.setattr(module, "launch", spy)
    return calls


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel", ["point", "square", "turbo", "gaussian", "lanczos2", "lanczos3", "tophat"])
def test_window_keeps_the_region_of_the_whole_grid_run(backend, kernel, monkeypatch):
    """Drizzle(window=...): the kernels accumulate the window alone, equal to the whole-grid run inside it.

    Bitwise on the emulator: a pixel's contributions arrive in the same order
    either way, and the footprints are clipped against the whole grid in both
    runs.  On a GPU the float64 atomic sums may add in another order, which
    can move the float32 results by an ulp; context and DQ (bitwise OR) and
    the miss counts stay exact.
    """
    def same(a, b, err_msg=""):
        if backend == "cuda":
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=0, equal_nan=True, err_msg=err_msg)
        else:
            np.testing.assert_array_equal(a, b, err_msg=err_msg)

    out_shape, window = (41, 47), (9, 30, 5, 22)
    y0, y1, x0, x1 = window
    full = Drizzle(kernel=kernel, out_shape=out_shape, backend=_kernel_backend(backend))
    win = Drizzle(kernel=kernel, out_shape=out_shape, backend=backend, window=window)
    assert full.window == (0, 41, 0, 47) and win.window == window
    calls = _launch_spy(monkeypatch, backend)
    for kw in _inputs(7, 1.0):
        lin = [kw["data2"][0]]
        r_full = full.add_image(pixfrac=0.7, pixel_scale_ratio=1.0, linear=lin, **kw)
        r_win = win.add_image(pixfrac=0.7, pixel_scale_ratio=1.0, linear=lin, **kw)
        assert r_full == r_win  # drizzle's misses are counted on the whole grid
        same(win.last_linear[0], full.last_linear[0][y0:y1, x0:x1])
    inside = (slice(None), slice(y0, y1), slice(x0, x1))
    np.testing.assert_array_equal(win.out_ctx[inside], full.out_ctx[inside])
    np.testing.assert_array_equal(win.out_dq[inside[1:]], full.out_dq[inside[1:]])
    for name in ("out_img", "out_wht"):
        same(getattr(win, name)[inside[1:]], getattr(full, name)[inside[1:]], err_msg=name)
    for a, b in zip(win.out_img2, full.out_img2, strict=True):
        same(a[inside[1:]], b[inside[1:]])
    outside = np.ones(out_shape, bool)
    outside[inside[1:]] = False
    assert np.any(full.out_wht[outside] > 0)
    assert not np.any(win.out_wht[outside]) and np.all(np.isnan(win.out_img[outside]))
    assert not np.any(win.out_ctx[:, outside])
    # what the device holds: sums and staged outputs of the window's size only
    windowed = [args for name, args in calls if name.startswith("drizzle_") and args["win_nx"] != 47]
    assert windowed and all(a["sum_w"].size == (y1 - y0) * (x1 - x0) and a["win_x0"] == x0 and a["win_y0"] == y0
                            and a["nx_out"] == 47 and a["ny_out"] == 41 for a in windowed)
    merges = [args for name, args in calls if name == "merge_image"]
    assert {int(a["n"]) for a in merges} == {41 * 47, (y1 - y0) * (x1 - x0)}


@pytest.mark.parametrize("window", [(0, 0, 0, 5), (3, 2, 0, 5), (0, 42, 0, 5), (-1, 4, 0, 5), (0, 4, 0), "all",
                                    (0.5, 4, 0, 5)])
def test_bad_window(window):
    with pytest.raises(ValueError, match="'window'"):
        Drizzle(out_shape=(41, 47), backend="cpu", window=window)


def test_window_needs_the_output_shape():
    with pytest.raises(ValueError, match="needs the output shape"):
        Drizzle(backend="cpu", window=(0, 4, 0, 5))


@pytest.mark.realdata
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel", ["square", "turbo", "lanczos3"])
def test_resample_equals_cpu_on_real_nircam(realdata, backend, kernel):
    """The step end to end (variance, context, DQ) through the emulator vs the CPU backend."""
    from oracle_stcal import dithered_nircam

    from gpuresample import resample

    ex = dithered_nircam(str(realdata), n=3)
    kw = dict(kernel=kernel, propagate_dq=True, pixmap_stepsize=1, pixmap_order=1)
    cpu = resample(ex, backend="cpu", **kw)
    emu = resample(ex, backend=_kernel_backend(backend), **kw)
    np.testing.assert_array_equal(emu.con, cpu.con)
    np.testing.assert_array_equal(emu.dq, cpu.dq)
    np.testing.assert_array_equal(emu.wht > 0, cpu.wht > 0)
    good = cpu.wht != 0
    if kernel.startswith("lanczos"):  # see test_kernels_match_cpu: cancelling lobes
        good &= np.abs(cpu.wht) > 1e-3 * np.abs(cpu.wht).max()
    scale = np.nanmax(np.abs(cpu.data))
    np.testing.assert_allclose(emu.data[good], cpu.data[good], rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(emu.wht[good], cpu.wht[good], rtol=1e-5)
    for name in ("var_rnoise", "var_poisson", "var_flat", "err"):
        a, b = getattr(emu, name), getattr(cpu, name)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        fin = np.isfinite(b) & good
        np.testing.assert_allclose(a[fin], b[fin], rtol=1e-5, atol=1e-5 * np.nanmax(np.abs(b)), err_msg=name)


def test_cupy_translation_unit_compiles():
    """What the CUDA backend hands CuPy: every source in one unit (headers inlined)."""
    pytest.importorskip("cuda.bindings.nvrtc", reason="needs the cuda-bindings and nvidia-cuda-nvrtc wheels")
    from gpuresample.gpu.nvrtc_check import compile_all

    assert '#include "' not in sources.translation_unit()
    res = compile_all("sm_80")
    assert res.ok, res.log
    assert "warning" not in res.log.lower(), res.log
    assert set(res.registers) == set(kernel_signatures())


def test_translation_unit_inlines_each_header_once():
    unit = sources.translation_unit()
    assert unit.startswith(sources.preamble())
    for header in ("drizzle_common.cuh", "drizzle_geometry.cuh"):
        assert unit.count(f'#line 1 "{header}"') == 1
    assert "#pragma once" not in unit
    assert sources.HOST_SHIM not in unit and "atomicAdd(double* p" not in unit
    # a header comes in where it is first included, its own includes first
    one = sources.translation_unit([sources.kernel_dir() / "drizzle_square.cu"])
    assert one.index("typedef long long i64;") < one.index("bool interpolate_point(") < one.index("drizzle_square(")


def test_one_source_text_for_cupy_nvrtc_and_the_emulator(monkeypatch):
    """The emulator compiles the host shim followed by exactly the unit a GPU build gets; its cache key
    follows the preamble and the flags."""
    from gpuresample.gpu.emulator import host_source, library_key

    device = sources.translation_unit()
    host = sources.translation_unit(host=True)
    assert host.endswith(device) and host.startswith('#line 1 "cuda_host_shim.h"')
    emulated = host_source()
    assert emulated.startswith(host)
    key = library_key(emulated, "g++")
    monkeypatch.setitem(sources.DEFINES, "GPURESAMPLE_TEST_DEFINE", "1")
    assert "#define GPURESAMPLE_TEST_DEFINE 1" in sources.translation_unit().split("#line", 1)[0]
    assert library_key(host_source(), "g++") != key
    monkeypatch.delitem(sources.DEFINES, "GPURESAMPLE_TEST_DEFINE")
    assert library_key(host_source(), "g++") == key
    monkeypatch.setattr(sources, "HOST_CXXFLAGS", (*sources.HOST_CXXFLAGS, "-g"))
    assert library_key(emulated, "g++") != key
    assert "-ftz=true" in sources.NVRTC_OPTIONS and "-ftz=true" not in sources.cupy_options()


def test_cupy_loader_compiles_the_unit_once_per_device(monkeypatch):
    """cupy_module() hands CuPy the shared unit and options, once per device (a stand-in for CuPy)."""
    import sys
    import types

    from gpuresample.gpu import loader

    compiled = []
    current = {"id": 0}

    class Device:
        def __init__(self, device_id=None):
            self.id = current["id"] if device_id is None else device_id

        def __enter__(self):
            self.saved, current["id"] = current["id"], self.id
            return self

        def __exit__(self, *exc):
            current["id"] = self.saved

    class RawModule:
        def __init__(self, code, options):
            self.code, self.options = code, options

        def compile(self):
            compiled.append((current["id"], self.code, self.options))

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(Device=Device)
    fake.RawModule = RawModule
    monkeypatch.setitem(sys.modules, "cupy", fake)
    loader.clear_cache()
    try:
        m0 = loader.cupy_module()
        assert loader.cupy_module(0) is m0 and loader.cupy_module(np.int64(0)) is m0
        m1 = loader.cupy_module(1)
        assert m1 is not m0 and loader.cupy_module(1) is m1
        assert [c[0] for c in compiled] == [0, 1]
        assert all(code == sources.translation_unit() and opts == sources.cupy_options() for _, code, opts in compiled)
        assert set(m0.sigs) == set(kernel_signatures())
    finally:
        loader.clear_cache()  # never leave stand-in modules for a real GPU run


DRIZZLE_ENTRY_POINTS = ("drizzle_point", "drizzle_square", "drizzle_turbo", "drizzle_gaussian", "drizzle_lanczos",
                        "drizzle_tophat")


def test_drizzle_kernels_share_one_parameter_list():
    """The macros of drizzle_common.cuh give every drizzle kernel the same leading and trailing parameters."""
    sigs = kernel_signatures()
    names = {k: [p.name for p in sigs[k].params] for k in DRIZZLE_ENTRY_POINTS}
    inputs = ["pixmap", "data", "weight", "dq"]
    grid = ["nx", "ny", "nx_out", "ny_out", "win_x0", "win_y0", "win_nx", "win_ny", "iscale", "wht_scale"]
    outputs = ["sum_wd", "sum_w", "ctx_plane", "bit", "ctx_mode", "dq_acc", "data2", "n2", "sum_w2d2", "lin", "nlin",
               "sum_wlin", "nmiss"]
    own = {"drizzle_point": [], "drizzle_square": ["pixfrac"], "drizzle_turbo": ["pfo", "dover_scale"],
           "drizzle_gaussian": ["pfo", "efac", "es"], "drizzle_lanczos": ["pfo", "sdp", "lut", "nlut"],
           "drizzle_tophat": ["pfo"]}
    for k, params in names.items():
        rows = ["xmin", "xmax", "ymin", "ymax"] if k == "drizzle_tophat" else ["x1", "x2"]
        assert params == inputs + rows + grid + own[k] + outputs, k
    point = sigs["drizzle_point"].params
    assert [(p.ctype, p.pointer, p.const) for p in point[:4]] == [
        ("double", True, True), ("float", True, True), ("float", True, True), ("unsigned int", True, True)]
    assert [(p.ctype, p.pointer, p.const) for p in point[-13:]] == [
        ("double", True, False), ("double", True, False), ("int", True, False), ("int", False, False),
        ("unsigned int", True, True), ("unsigned int", True, False), ("float", True, True), ("i64", False, False),
        ("double", True, False),
        ("float", True, True), ("i64", False, False), ("double", True, False), ("unsigned long long", True, False)]


def test_signature_parser_expands_macros():
    src = """
#define PAIR const double* __restrict__ a, /* first */ \\
    i64 n
#define MORE PAIR, float s
#define TWICE(x) x x
extern "C" __global__ void k(MORE, int* out) // done
{ }
"""
    assert parse_macros(src) == {"PAIR": "const double* __restrict__ a, i64 n", "MORE": "PAIR, float s"}
    (sig,) = parse_signatures(src, "t.cu")
    assert [(p.name, p.ctype, p.pointer, p.const) for p in sig.params] == [
        ("a", "double", True, True), ("n", "i64", False, False), ("s", "float", False, False),
        ("out", "int", True, False)]
    with pytest.raises(ValueError, match="nest deeper"):
        parse_signatures('#define A A, B\nextern "C" __global__ void k(A) {}', "t.cu")
