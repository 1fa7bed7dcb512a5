// Point and tophat kernels: one thread per input pixel (grid-stride).
//
// Which input pixels are visited is decided on the host, exactly as drizzle
// decides it (gpuresample.scanner.row_limits): row j is visited for
// x1[j] <= i <= x2[j] (point kernel).  The tophat kernel visits every pixel
// of the input box with a finite pixel map (its own semantics, see
// gpuresample/backends/tophat.py).
#include "drizzle_common.cuh"

// Point kernel: the whole weight goes to the output pixel nearest to the
// mapped centre of the input pixel.
extern "C" __global__ void drizzle_point(DRIZZLE_INPUT_PARAMS, DRIZZLE_ROW_PARAMS, DRIZZLE_GRID_PARAMS,
                                         DRIZZLE_OUTPUT_PARAMS)
{
    DRIZZLE_SETUP;
    for_each_input_pixel(pixmap, nx, ny, x1, x2, 0, 0, 0, 0, nmiss, [&](i64 k, i64, i64, double ox, double oy) {
        const i64 ii = c_round(ox);
        const i64 jj = c_round(oy);
        if (ii < 0 || ii >= nx_out || jj < 0 || jj >= ny_out) return false;
        const float w = weight[k] * wht_scale;
        contribute(win, ii, jj, data[k] * iscale, (double)w, sum_wd, sum_w, ctx, bit, dq, k, dq_acc, d2);
        return true;
    });
}

// Tophat kernel: every output pixel whose centre is within pfo output pixels
// of the mapped centre receives the value with the full weight.
extern "C" __global__ void drizzle_tophat(
    DRIZZLE_INPUT_PARAMS,
    i64 xmin, i64 xmax, i64 ymin, i64 ymax,  // inclusive input box
    DRIZZLE_GRID_PARAMS,
    double pfo,  // radius in output pixels: pixfrac / pscale_ratio / 2
    DRIZZLE_OUTPUT_PARAMS)
{
    DRIZZLE_SETUP;
    const double pfo2 = pfo * pfo;
    for_each_input_pixel(pixmap, nx, ny, 0, 0, xmin, xmax, ymin, ymax, nmiss,
                         [&](i64 k, i64, i64, double ox, double oy) {
        const float d = data[k] * iscale;
        const float w = weight[k] * wht_scale;
        // the window clipped to the grid in double before the conversion: a
        // radius far beyond the grid costs the grid, and no cast saturates
        const i64 i0 = (i64)fmax(ceil(ox - pfo), 0.0), i1 = (i64)fmin(floor(ox + pfo), (double)(nx_out - 1));
        const i64 j0 = (i64)fmax(ceil(oy - pfo), 0.0), j1 = (i64)fmin(floor(oy + pfo), (double)(ny_out - 1));
        bool hit = false;
        for (i64 jj = j0; jj <= j1; ++jj) {
            const double dy = oy - (double)jj;
            for (i64 ii = i0; ii <= i1; ++ii) {
                const double dx = ox - (double)ii;
                if (dx * dx + dy * dy <= pfo2) {
                    hit = true;
                    contribute(win, ii, jj, d, (double)w, sum_wd, sum_w, ctx, bit, dq, k, dq_acc, d2);
                }
            }
        }
        return hit;
    });
}
