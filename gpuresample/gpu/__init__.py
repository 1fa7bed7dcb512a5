"""GPU kernel infrastructure: the sources and their one translation unit, signatures, loaders, checks.

* :mod:`.sources` -- where ``kernels/`` is, the compile options and the
  translation unit that CuPy, the NVRTC check and the emulator all compile;
* :mod:`.signatures` -- the entry points' C parameter types, and the
  argument check every launch makes;
* :mod:`.loader` -- ``cupy_module()`` (compiled once per device) and
  ``emulator_module()``: objects with ``launch(name, grid, block, args)``;
* :mod:`.launch` -- how the drizzle kernels are launched, for either module;
* :mod:`.nvrtc_check`, :mod:`.emulator` -- NVRTC compiles without a GPU, and
  the host build.

Only :mod:`.loader` imports CuPy, inside its functions; see issue 4.
"""
