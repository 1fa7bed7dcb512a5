// Fold one image's float64 sums into the running float32 weighted mean,
// elementwise (drizzle's update rule, with the image's contributions summed
// first): a pixel that had no weight takes the new mean; otherwise
// out = (out * wht + sum_wd) / (wht + sum_w).  DQ: the first contribution
// replaces, later ones OR.  Zero-weight pixels get the fill value if asked.
#include "drizzle_common.cuh"

extern "C" __global__ void merge_image(
    const double* __restrict__ sum_wd, const double* __restrict__ sum_w, i64 n,
    float* out_img, float* out_wht,
    const unsigned int* __restrict__ dq_acc, unsigned int* out_dq,  // both null or both set
    int do_fill, float fill_value)
{
    for (i64 k = grid_index(); k < n; k += grid_stride()) {
        const double sw = sum_w[k];
        const double vc = (double)out_wht[k];
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
