// Pixel-corner geometry of drizzle's square kernel, in double precision.
//
// The pixel map holds the output (x, y) of input pixel centres; corners are
// interpolated bilinearly between centres (extrapolating at the image
// border), with drizzle's arithmetic so that the same corners come out.
#pragma once
#include "drizzle_common.cuh"

// Bilinear interpolation of the pixel map at input position (xin, yin);
// returns false when the result is NaN.  The 2x2 cell is clamped to the
// image, which extrapolates beyond its border.
__device__ inline bool interpolate_point(const double* pixmap, i64 nx, i64 ny, double xin, double yin,
                                         double* xo, double* yo) {
    i64 i0 = (i64)(int)xin;  // C (int) truncation toward zero
    i64 j0 = (i64)(int)yin;
    if (i0 < 0) i0 = 0; else if (i0 > nx - 2) i0 = nx - 2;
    if (j0 < 0) j0 = 0; else if (j0 > ny - 2) j0 = ny - 2;
    const double x = xin - (double)i0, y = yin - (double)j0;
    const double x1 = 1.0 - x, y1 = 1.0 - y;
    const double* p00 = pixmap + 2 * (j0 * nx + i0);
    const double* p10 = p00 + 2;
    const double* p01 = p00 + 2 * nx;
    const double* p11 = p01 + 2;
    *xo = p00[0] * x1 * y1 + p10[0] * x * y1 + p01[0] * x1 * y + p11[0] * x * y;
    *yo = p00[1] * x1 * y1 + p10[1] * x * y1 + p01[1] * x1 * y + p11[1] * x * y;
    return !(isnan(*xo) || isnan(*yo));
}

// The four corners (+-h around the centre of interior pixel (ic, jc)) from
// its 3x3 neighbourhood, in drizzle's order: (-h,+h), (+h,+h), (+h,-h), (-h,-h).
__device__ inline bool interpolate_four_points(const double* pixmap, i64 nx, i64 ic, i64 jc, double h,
                                               double* xo, double* yo) {
    double f[3][3], g[3][3];
    for (int j = 0; j <= 2; ++j) {
        for (int i = 0; i <= 2; ++i) {
            const double* p = pixmap + 2 * ((jc - 1 + j) * nx + (ic - 1 + i));
            double fac;
            if (i == 1 && j == 1) fac = (1 - h) * (1 - h);
            else if (i == 1 || j == 1) fac = (1 - h) * h;
            else fac = h * h;
            f[i][j] = p[0] * fac;
            g[i][j] = p[1] * fac;
        }
    }
    xo[0] = f[0][1] + f[1][1] + f[0][2] + f[1][2];
    yo[0] = g[0][1] + g[1][1] + g[0][2] + g[1][2];
    xo[1] = f[1][1] + f[2][1] + f[1][2] + f[2][2];
    yo[1] = g[1][1] + g[2][1] + g[1][2] + g[2][2];
    xo[2] = f[1][0] + f[2][0] + f[1][1] + f[2][1];
    yo[2] = g[1][0] + g[2][0] + g[1][1] + g[2][1];
    xo[3] = f[0][0] + f[1][0] + f[0][1] + f[1][1];
    yo[3] = g[0][0] + g[1][0] + g[0][1] + g[1][1];
    for (int k = 0; k < 4; ++k)
        if (isnan(xo[k]) || isnan(yo[k])) return false;
    return true;
}

// Signed area between the segment (x1,y1)-(x2,y2) and the x axis, clipped to
// the unit square [0,1]x[0,1] (the building block of polygon/square overlap).
__device__ inline double segment_area(double x1, double y1, double x2, double y2) {
    const double dx = x2 - x1, dy = y2 - y1;
    if (dx == 0) return 0.0;
    double sgn, xlo, xhi;
    if (dx < 0) { sgn = -1.0; xlo = x2; xhi = x1; } else { sgn = 1.0; xlo = x1; xhi = x2; }
    if (xlo >= 1.0 || xhi <= 0.0) return 0.0;
    xlo = xlo > 0.0 ? xlo : 0.0;
    xhi = xhi < 1.0 ? xhi : 1.0;
    const double slope = dy / dx;
    double ylo = y1 + slope * (xlo - x1);
    double yhi = y1 + slope * (xhi - x1);
    if (ylo <= 0.0 && yhi <= 0.0) return 0.0;
    if (ylo >= 1.0 && yhi >= 1.0) return sgn * (xhi - xlo);
    const double det = x1 * y2 - y1 * x2;
    if (ylo < 0.0) { ylo = 0.0; xlo = det / dy; }
    if (yhi < 0.0) { yhi = 0.0; xhi = det / dy; }
    if (ylo <= 1.0) {
        if (yhi <= 1.0) return sgn * 0.5 * (xhi - xlo) * (yhi + ylo);
        const double xtop = (dx + det) / dy;
        return sgn * (0.5 * (xtop - xlo) * (1.0 + ylo) + xhi - xtop);
    }
    const double xtop = (dx + det) / dy;
    return sgn * (0.5 * (xhi - xtop) * (1.0 + yhi) + xtop - xlo);
}

// Overlap area of the quadrilateral (x[4], y[4]) with output pixel (is, js).
__device__ inline double pixel_overlap(double is, double js, const double* x, const double* y) {
    is -= 0.5;
    js -= 0.5;
    double px[4], py[4];
    for (int k = 0; k < 4; ++k) { px[k] = x[k] - is; py[k] = y[k] - js; }
    double sum = 0.0;
    for (int k = 0; k < 4; ++k) sum += segment_area(px[k], py[k], px[(k + 1) & 3], py[(k + 1) & 3]);
    return sum;
}
