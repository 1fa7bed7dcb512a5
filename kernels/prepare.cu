// Prepare one exposure's inputs on the device, before the scatter: what the
// host front end does in gpuresample/weights.py (WeightRule.host_weights) and
// gpuresample/step_inputs.py (host_inputs), per input pixel, so that only the
// arrays the weights are made from cross the bus.
//
//   weight  = base * good                       weight_kind 1 (constant) or 2 (inverse)
//             base = weight_value, or 1 / var (0 where not finite)
//             good = 1 unless (mask_dq & bad_bits) != 0 (mask_dq null: all good)
//   weight  = the uploaded weight               weight_kind 0 (given)
//   weight  = +0 outside [x_lo, x_hi] x [y_lo, y_hi] of the mapped centre, or
//             where the map is NaN              use_region (a tile's reach)
//   data, weight = 0 where either is not finite (drizzle's rule)
//   lin[m]  = sqrt(lin[m])                      lin_sqrt (jwst's sqrt(variance))
//   *negative |= 1 when a weight is < 0 (the scatter then sets context bits
//                itself: drizzle_common.cuh, ctx_mode)
//
// The float operations are single IEEE divisions and square roots of float32
// values, correctly rounded on the host and on the device alike.  `var` may
// be one of the `lin` arrays (read before its square root is written), so
// neither pointer is __restrict__.
#include "drizzle_common.cuh"

extern "C" __global__ void prepare_inputs(
    i64 n,                        // input pixels (ny * nx)
    float* data,                  // (n) in place
    float* weight,                // (n) out; in for weight_kind 0
    int weight_kind, float weight_value,
    const float* var,             // (n) inverse-variance source, or null
    const unsigned int* mask_dq, unsigned int bad_bits,
    const double* __restrict__ pixmap,  // (n, 2) the map on the device
    int use_region, double x_lo, double x_hi, double y_lo, double y_hi,
    float* lin, i64 nlin, int lin_sqrt,  // (nlin, n)
    unsigned int* negative)
{
    for (i64 k = grid_index(); k < n; k += grid_stride()) {
        float w;
        if (weight_kind == 0) {
            w = weight[k];
        } else {
            float base = weight_value;
            if (weight_kind == 2 && var != 0) {
                const float inv = 1.0f / var[k];
                base = isfinite(inv) ? inv : 0.0f;
            }
            const float good = (mask_dq != 0 && (mask_dq[k] & bad_bits) != 0u) ? 0.0f : 1.0f;
            w = base * good;  // numpy's base * mask: -0.0 for a negative base at a bad pixel
        }
        if (use_region) {
            const double x = pixmap[2 * k], y = pixmap[2 * k + 1];
            if (!(x >= x_lo && x <= x_hi && y >= y_lo && y <= y_hi)) w = 0.0f;
        }
        const float d = data[k];
        if (!isfinite(d) || !isfinite(w)) {
            w = 0.0f;
            data[k] = 0.0f;
        }
        weight[k] = w;
        if (w < 0.0f) atomicOr(negative, 1u);
        if (lin_sqrt) {
            for (i64 m = 0; m < nlin; ++m) lin[m * n + k] = sqrtf(lin[m * n + k]);
        }
    }
}
