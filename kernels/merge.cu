// Fold one image's float64 sums into the running float32 weighted mean,
// elementwise (drizzle's update rule, with the image's contributions summed
// first): a pixel that had no weight takes the new mean; otherwise
// out = (out * wht + sum_wd) / (wht + sum_w).  DQ: the first contribution
// replaces, later ones OR.  Zero-weight pixels get the fill value if asked.
// With ctx_plane and *ctx_mode == 0 (no weight of the image can be negative)
// the image's context bit is set here, where its sum of weights is > 0.
#include "drizzle_common.cuh"

extern "C" __global__ void merge_image(
    const double* __restrict__ sum_wd, const double* __restrict__ sum_w, i64 n,
    float* out_img, float* out_wht,
    const unsigned int* __restrict__ dq_acc, unsigned int* out_dq,  // both null or both set
    int do_fill, float fill_value,
    int* ctx_plane, int bit, const unsigned int* __restrict__ ctx_mode)  // null plane: no context
{
    int* const ctx = (ctx_plane != 0 && *ctx_mode == 0u) ? ctx_plane : nullptr;
    for (i64 k = grid_index(); k < n; k += grid_stride()) {
        const double sw = sum_w[k];
        const double vc = (double)out_wht[k];
        if (ctx != 0 && sw > 0.0) ctx[k] |= bit;
        if (sw != 0.0) {
            const double total = vc + sw;
            if (vc == 0.0) {
                out_img[k] = (float)(sum_wd[k] / sw);
                if (out_dq != 0) out_dq[k] = dq_acc[k];
            } else {
                out_img[k] = (float)(((double)out_img[k] * vc + sum_wd[k]) / total);
                if (out_dq != 0) out_dq[k] |= dq_acc[k];
            }
            out_wht[k] = (float)total;
        }
        if (do_fill && out_wht[k] == 0.0f) out_img[k] = fill_value;
    }
}

// The same for one array co-added with squared weights (drizzle's out_img2):
// out2 = (out2 * wht**2 + sum(w**2 d2)) / (wht + sum w)**2.  Run it before
// merge_image, which updates out_wht.  With do_fill, pixels that still have
// no weight get fill_value (drizzle fills out_img2 only when it fills out_img).
extern "C" __global__ void merge_image2(
    const double* __restrict__ sum_w2d2, const double* __restrict__ sum_w, i64 n,
    const float* __restrict__ out_wht, float* out_img2, int do_fill, float fill_value)
{
    for (i64 k = grid_index(); k < n; k += grid_stride()) {
        const double sw = sum_w[k];
        const double vc = (double)out_wht[k];
        if (sw != 0.0) {
            const double total = vc + sw;
            if (vc == 0.0) out_img2[k] = (float)(sum_w2d2[k] / (sw * sw));
            else out_img2[k] = (float)(((double)out_img2[k] * vc * vc + sum_w2d2[k]) / (total * total));
        } else if (do_fill && vc == 0.0) {
            out_img2[k] = fill_value;
        }
    }
}
