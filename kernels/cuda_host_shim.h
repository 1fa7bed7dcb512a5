// Host build of gpuresample's CUDA sources (the "emulator" backend).
//
// Just enough CUDA for the kernels in this folder to compile with g++ and run
// serially: qualifiers become no-ops, the built-in index variables are plain
// globals that the generated launcher sets for every (block, thread), and the
// atomics are ordinary read-modify-writes (one thread runs at a time).  The
// kernels use no shared memory and no __syncthreads, so serial execution of
// the threads of a block is a valid schedule.
#pragma once
#include <cmath>
#include <cstdint>

struct gpuresample_uint3 { unsigned int x, y, z; };
struct gpuresample_dim3 { unsigned int x, y, z; };

static gpuresample_uint3 threadIdx, blockIdx;
static gpuresample_dim3 blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict

using std::ceil;
using std::exp;
using std::fabs;
using std::floor;
using std::fmax;
using std::fmin;
using std::isnan;
using std::round;
using std::sqrt;

inline double atomicAdd(double* p, double v) { double o = *p; *p = o + v; return o; }
inline float atomicAdd(float* p, float v) { float o = *p; *p = o + v; return o; }
inline int atomicAdd(int* p, int v) { int o = *p; *p = o + v; return o; }
inline unsigned int atomicAdd(unsigned int* p, unsigned int v) { unsigned int o = *p; *p = o + v; return o; }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
    unsigned long long o = *p; *p = o + v; return o;
}
inline int atomicOr(int* p, int v) { int o = *p; *p = o | v; return o; }
inline unsigned int atomicOr(unsigned int* p, unsigned int v) { unsigned int o = *p; *p = o | v; return o; }
