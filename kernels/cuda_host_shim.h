// Host build of gpuresample's CUDA sources (the "emulator" backend).
//
// Just enough CUDA for the kernels in this folder to compile with g++ and run
// on the host: qualifiers become no-ops, the built-in index variables are
// thread-local globals that the generated launcher sets for every (block,
// thread), and the atomics are real atomics (GCC __atomic builtins; a
// compare-and-swap loop for floating point, as CUDA's own atomicAdd on double
// is specified).  The kernels use no shared memory and no __syncthreads, so
// running the threads of one block one after the other is a valid schedule.
//
// gpuresample_run_grid() runs the blocks of a launch either in order on the
// calling thread (sequential mode: bitwise reproducible, for debugging) or in
// a shuffled order on several host threads at once (concurrent mode): then a
// plain read-modify-write where an atomic is needed, or a read of a value
// another block writes in the same launch, changes the result -- as on a GPU.
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

struct gpuresample_uint3 { unsigned int x, y, z; };
struct gpuresample_dim3 { unsigned int x, y, z; };

static thread_local gpuresample_uint3 threadIdx, blockIdx;
static thread_local gpuresample_dim3 blockDim, gridDim;

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
using std::isfinite;
using std::isnan;
using std::round;
using std::sqrt;

template <class T>
inline T gpuresample_atomic_add_int(T* p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }

template <class F, class U>
inline F gpuresample_atomic_add_float(F* p, F v) {
    static_assert(sizeof(F) == sizeof(U), "bit-size mismatch");
    U* q = reinterpret_cast<U*>(p);
    U old_bits = __atomic_load_n(q, __ATOMIC_RELAXED);
    for (;;) {
        F old_val, new_val;
        std::memcpy(&old_val, &old_bits, sizeof(F));
        new_val = old_val + v;
        U new_bits;
        std::memcpy(&new_bits, &new_val, sizeof(F));
        if (__atomic_compare_exchange_n(q, &old_bits, new_bits, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return old_val;
    }
}

inline double atomicAdd(double* p, double v) { return gpuresample_atomic_add_float<double, uint64_t>(p, v); }
inline float atomicAdd(float* p, float v) { return gpuresample_atomic_add_float<float, uint32_t>(p, v); }
inline int atomicAdd(int* p, int v) { return gpuresample_atomic_add_int(p, v); }
inline unsigned int atomicAdd(unsigned int* p, unsigned int v) { return gpuresample_atomic_add_int(p, v); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
    return gpuresample_atomic_add_int(p, v);
}
inline int atomicOr(int* p, int v) { return __atomic_fetch_or(p, v, __ATOMIC_RELAXED); }
inline unsigned int atomicOr(unsigned int* p, unsigned int v) { return __atomic_fetch_or(p, v, __ATOMIC_RELAXED); }

// Run run_block(b) for every block b < gx: in order on this thread when
// nthreads <= 1, else in the order of a permutation drawn from `seed` on
// nthreads host threads that take the next block as they finish one.
template <class RunBlock>
inline void gpuresample_run_grid(unsigned int gx, int nthreads, unsigned long long seed, RunBlock run_block) {
    if (nthreads <= 1) {
        for (unsigned int b = 0; b < gx; ++b) run_block(b);
        return;
    }
    std::vector<unsigned int> order(gx);
    for (unsigned int b = 0; b < gx; ++b) order[b] = b;
    std::mt19937_64 rng(seed);
    std::shuffle(order.begin(), order.end(), rng);
    std::atomic<unsigned int> next(0);
    std::atomic<int> ready(0);
    std::vector<std::thread> pool;
    const int n = (unsigned int)nthreads < gx ? nthreads : (int)gx;
    for (int t = 0; t < n; ++t) {
        pool.emplace_back([&]() {
            // start together: otherwise the first thread can finish a small
            // launch before the others exist, and nothing runs concurrently
            ready.fetch_add(1);
            while (ready.load() < n) std::this_thread::yield();
            for (unsigned int i = next.fetch_add(1); i < gx; i = next.fetch_add(1)) run_block(order[i]);
        });
    }
    for (auto& th : pool) th.join();
}
