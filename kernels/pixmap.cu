// Expand a sparse pixel map on the device (gpuresample/pixmap_model.py): the
// tensor-product B-spline that calc_pixmap fits to the WCS on a sparse grid,
// evaluated at every input pixel from its separable form,
//     out[j, i] = sum_a sum_b basis_y[j, a] * c[first_y[j] + a, first_x[i] + b] * basis_x[i, b]
// for output x (cx) and y (cy), in the order SplinePixmap.evaluate sums (so
// the host reference and the device agree to rounding).  Pixels outside the
// input bounding box (row_ok / col_ok, null when none) and outputs outside
// the output WCS's box (have_out_box) are NaN, as calc_pixmap makes them.
#include "drizzle_common.cuh"

extern "C" __global__ void expand_pixmap(
    const double* __restrict__ basis_y, const i64* __restrict__ first_y, i64 ny,  // (ny, kk) row basis, first coefficient
    const double* __restrict__ basis_x, const i64* __restrict__ first_x, i64 nx,  // (nx, kk) column basis
    const double* __restrict__ cx, const double* __restrict__ cy, i64 ncx,  // (n_coef_y, ncx) coefficients
    i64 kk,  // basis values per axis: order + 1
    const unsigned char* __restrict__ row_ok, const unsigned char* __restrict__ col_ok,
    int have_out_box, double xlo, double xhi, double ylo, double yhi,
    double x0, double y0,  // subtracted from the result (a shifted map)
    double* __restrict__ pixmap)  // (ny, nx, 2)
{
    const i64 n = nx * ny;
    for (i64 k = grid_index(); k < n; k += grid_stride()) {
        const i64 j = row_of(k, nx, n);
        const i64 i = k - j * nx;
        double ox = 0.0, oy = 0.0;  // one running sum each, in (a, b) order, as the host reference
        for (i64 a = 0; a < kk; ++a) {
            const double wy = basis_y[j * kk + a];
            const i64 row = (first_y[j] + a) * ncx + first_x[i];
            for (i64 b = 0; b < kk; ++b) {
                const double wx = basis_x[i * kk + b];
                ox += wy * cx[row + b] * wx;  // (wy * c) * wx: the reference's association
                oy += wy * cy[row + b] * wx;
            }
        }
        bool masked = row_ok != 0 && (row_ok[j] == 0 || col_ok[i] == 0);
        if (have_out_box && (ox < xlo || ox > xhi || oy < ylo || oy > yhi)) masked = true;
        // the front end's rule for any map (pixmap_checks.MAX_PIXMAP_COORD): far is nowhere
        if (!(fabs(ox) <= 67108864.0) || !(fabs(oy) <= 67108864.0)) masked = true;
        pixmap[2 * k] = masked ? nan("") : ox - x0;
        pixmap[2 * k + 1] = masked ? nan("") : oy - y0;
    }
}
