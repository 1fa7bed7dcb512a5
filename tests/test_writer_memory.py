"""The product writer streams memory-mapped outputs into the file (issue 13, item 3).

Before, astropy wrote each array in one piece: every page of a memory-mapped
product became resident and a byte-swapped copy was made, so writing a
product made within ``allowed_memory`` needed several times the memory of
its arrays (9.5 GB for a 20000^2 mosaic allowed 2.2 GB).  The full-size run is
``benchmarks/bench_writer_memory.py``; here a product of 7 x 64 MiB arrays is
written and the writer's own peak (VmHWM) must stay near one block.
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

WRITE = textwrap.dedent("""
    import json, sys
    import numpy as np
    from gpuresample.i2d import write_product
    from gpuresample.allocation import ScratchAllocator
    from gpuresample.result import ResampleResult
    from gpuresample import resample
    from gpuresample.synthetic import dithered_scene

    n = int(sys.argv[2])
    alloc = ScratchAllocator(on_disk=True, workdir=sys.argv[3])
    arrays = {}
    for k, name in enumerate(("data", "wht", "err", "var_rnoise", "var_poisson", "var_flat")):
        a = alloc((n, n), np.float32)
        for r in range(0, n, 256):  # filled a block at a time, and the pages handed back
            a[r:r + 256] = np.arange(r, min(n, r + 256), dtype=np.float32)[:, None] * (k + 1)
        arrays[name] = a
    arrays["con"] = alloc((1, n, n), np.int32, fill=3)
    arrays["dq"] = alloc((n, n), np.uint32, fill=2**31 + 5)
    from gpuresample.fits_stream import release_pages
    for a in arrays.values():
        release_pages(a)
    wcs = resample(dithered_scene(n_exposures=1, shape=(32, 32), seed=0), backend="cpu").wcs  # a TAN gwcs
    res = ResampleResult(wcs=wcs, meta={"pixfrac": 1.0, "pixel_scale_ratio": 1.0, "kernel": "square"}, **arrays)

    def rss(key):
        return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith(key))

    # warm up: code and the FITS WCS fit loaded on first use are not the writer's memory
    small = ResampleResult(wcs=wcs, meta=res.meta, **{k: np.asarray(v[..., :8, :8]) for k, v in arrays.items()})
    write_product(sys.argv[1] + ".warm.fits", small, use_datamodels=sys.argv[4] == "1")
    base = rss("VmRSS")
    open("/proc/self/clear_refs", "w").write("5")  # reset VmHWM: measure the write only
    write_product(sys.argv[1], res, use_datamodels=sys.argv[4] == "1")
    print(json.dumps({"peak": rss("VmHWM") - base, "array_bytes": sum(a.nbytes for a in arrays.values())}))
""")


@pytest.mark.parametrize("datamodels", [True, False], ids=["stdatamodels", "astropy"])
def test_memory_mapped_product_is_streamed(tmp_path, datamodels):
    from astropy.io import fits

    n = 4096  # 64 MiB per array, 512 MiB in all
    out = tmp_path / "big_i2d.fits"
    run = subprocess.run([sys.executable, "-c", WRITE, str(out), str(n), str(tmp_path), str(int(datamodels))],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    # one 8 MiB block converted at a time (two copies for unsigned DQ, + its source
    # pages until handed back): under one 64 MiB array, let alone the 512 MiB product
    assert figures["peak"] < 40 * 2**20, figures
    with fits.open(out, memmap=True) as hdul:
        assert hdul["SCI"].data.shape == (n, n)
        rows = np.arange(n, dtype=np.float32)
        np.testing.assert_array_equal(hdul["SCI"].data[:, 7], rows)
        np.testing.assert_array_equal(hdul["VAR_FLAT"].data[n - 3:, 0], rows[n - 3:] * 6)
        assert hdul["CON"].data.shape == (1, n, n) and hdul["CON"].data[0, -1, -1] == 3
    dq = fits.getdata(out, "DQ", memmap=False)  # unsigned (BZERO): astropy cannot map it
    assert dq.dtype == np.uint32 and dq[-1, 5] == 2**31 + 5 and (dq == dq[0, 0]).all()
    if datamodels:
        from stdatamodels.jwst import datamodels as dm

        with dm.open(out) as model:
            assert model.data.shape == (n, n) and model.con.shape == (1, n, n)
            assert model.dq[0, 0] == 2**31 + 5


@pytest.mark.parametrize("datamodels", [True, False], ids=["stdatamodels", "astropy"])
def test_streamed_file_equals_the_one_piece_writer(tmp_path, datamodels):
    """Same HDUs, headers, data and ASDF tree as writing the product in one piece (the old writer)."""
    from astropy.io import fits

    import gpuresample
    from gpuresample import i2d
    from gpuresample.synthetic import dithered_scene

    res = gpuresample.resample(dithered_scene(n_exposures=2, shape=(64, 64), seed=1), propagate_dq=True,
                               backend="cpu")
    res.wht = res.wht.astype(np.float64)  # a dtype the writer converts (float32 on disk)
    new, old = tmp_path / "new" / "p_i2d.fits", tmp_path / "old" / "p_i2d.fits"
    new.parent.mkdir(), old.parent.mkdir()
    i2d.write_product(new, res, use_datamodels=datamodels)
    primary = i2d._primary_cards(res, res.blended, old.name)
    sci = i2d.fits_wcs_header(res.wcs, res.shape)
    if datamodels:
        i2d._write_datamodels(old, res, primary, sci, old.name)
    else:
        i2d._write_astropy(old, res, primary, sci)
    with fits.open(new) as a, fits.open(old) as b:
        a.verify("exception")
        assert [h.name for h in a] == [h.name for h in b]
        for ha, hb in zip(a, b, strict=True):
            if ha.name == "ASDF":
                ta, tb = (h.data.tobytes().partition(b"\n...\n")[0].decode() for h in (ha, hb))
                drop = ("_fits_hash:", "  date:")  # the shell's hash (removed) and the time of writing
                assert [s for s in ta.splitlines() if not s.startswith(drop)] == \
                    [s for s in tb.splitlines() if not s.startswith(drop)]
                continue
            assert {k: v for k, v in ha.header.items() if k != "DATE"} == \
                {k: v for k, v in hb.header.items() if k != "DATE"}, ha.name
            if ha.data is not None:
                assert ha.data.dtype == hb.data.dtype
                np.testing.assert_array_equal(ha.data, hb.data, err_msg=ha.name)
    back = gpuresample.read_product(new)
    np.testing.assert_array_equal(back.data, res.data.astype(np.float32))
    np.testing.assert_array_equal(back.dq, res.dq)
