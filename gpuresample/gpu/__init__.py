"""GPU kernel infrastructure: kernel sources and signatures, NVRTC checks, the host emulator.

The CUDA backend itself (CuPy) and the ``emulator`` backend are built on
these modules; see issue 4.  Nothing here imports CuPy.
"""
