//! Squared Euclidean distances column by column, the inner loop of KNN and PCA, and a way to
//! run such loops compiled for the widest vector registers the CPU has.
//!
//! Every distance is summed over the columns in order from coordinate differences (no fused
//! multiply-add), so the same pair gives the same bits whichever code path computes it.

/// `out[j] = (col[j] - q)²` when `first`, else `out[j] += (col[j] - q)²`: one column's share
/// of the squared distances from a point to many. Written with explicit vector instructions
/// where the CPU has them: left to the optimiser, this loop sometimes came out scalar or as
/// gathers, depending on where it was inlined.
#[inline]
pub fn add_squared_differences(out: &mut [f64], col: &[f64], q: f64, first: bool) {
    let col = &col[..out.len()];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F; both slices have out.len() elements.
            unsafe { x86::add_squared_differences_avx512(out, col, q, first) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: as above, for AVX.
            unsafe { x86::add_squared_differences_avx(out, col, q, first) };
            return;
        }
    }
    add_squared_differences_scalar(out, col, q, first);
}

fn add_squared_differences_scalar(out: &mut [f64], col: &[f64], q: f64, first: bool) {
    for (o, &c) in out.iter_mut().zip(col) {
        let d = c - q;
        *o = if first { d * d } else { *o + d * d };
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Same arithmetic as the scalar loop (subtract, multiply, add: no fused multiply-add),
    /// so results are equal bit for bit.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn add_squared_differences_avx512(
        out: &mut [f64],
        col: &[f64],
        q: f64,
        first: bool,
    ) {
        let n = out.len().min(col.len());
        let whole = n - n % 8;
        let qv = _mm512_set1_pd(q);
        let (o, c) = (out.as_mut_ptr(), col.as_ptr());
        let mut j = 0;
        while j < whole {
            // SAFETY: j + 8 <= n for both slices.
            unsafe {
                let d = _mm512_sub_pd(_mm512_loadu_pd(c.add(j)), qv);
                let d2 = _mm512_mul_pd(d, d);
                let v = if first {
                    d2
                } else {
                    _mm512_add_pd(_mm512_loadu_pd(o.add(j)), d2)
                };
                _mm512_storeu_pd(o.add(j), v);
            }
            j += 8;
        }
        super::add_squared_differences_scalar(&mut out[whole..n], &col[whole..n], q, first);
    }

    #[target_feature(enable = "avx")]
    pub unsafe fn add_squared_differences_avx(out: &mut [f64], col: &[f64], q: f64, first: bool) {
        let n = out.len().min(col.len());
        let whole = n - n % 4;
        let qv = _mm256_set1_pd(q);
        let (o, c) = (out.as_mut_ptr(), col.as_ptr());
        let mut j = 0;
        while j < whole {
            // SAFETY: j + 4 <= n for both slices.
            unsafe {
                let d = _mm256_sub_pd(_mm256_loadu_pd(c.add(j)), qv);
                let d2 = _mm256_mul_pd(d, d);
                let v = if first {
                    d2
                } else {
                    _mm256_add_pd(_mm256_loadu_pd(o.add(j)), d2)
                };
                _mm256_storeu_pd(o.add(j), v);
            }
            j += 4;
        }
        super::add_squared_differences_scalar(&mut out[whole..n], &col[whole..n], q, first);
    }
}

/// The columns of a matrix as contiguous slices: for a lag matrix, stretches of its series
/// (no copy); otherwise a transposed copy.
pub enum Columns<'a> {
    Lags {
        series: &'a [f64],
        rows: usize,
        cols: usize,
    },
    Copied {
        data: Vec<f64>,
        rows: usize,
    },
}

impl<'a> Columns<'a> {
    pub fn of(x: &'a super::Matrix) -> Self {
        match x.known_lags() {
            Some(series) => Columns::Lags {
                series,
                rows: x.rows(),
                cols: x.cols(),
            },
            None => Columns::Copied {
                data: column_major(x.data(), x.cols()),
                rows: x.rows(),
            },
        }
    }

    pub fn get(&self, c: usize) -> &[f64] {
        match self {
            Columns::Lags { series, rows, cols } => &series[cols - 1 - c..cols - 1 - c + rows],
            Columns::Copied { data, rows } => &data[c * rows..(c + 1) * rows],
        }
    }
}

/// The columns of row-major `data` (`cols` wide) one after another.
pub fn column_major(data: &[f64], cols: usize) -> Vec<f64> {
    let rows = data.len() / cols.max(1);
    let mut out = vec![0.0; rows * cols];
    for (i, row) in data.chunks_exact(cols.max(1)).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            out[c * rows + i] = v;
        }
    }
    out
}

/// Runs `f` compiled for AVX-512 or AVX2 when the CPU has them (the default x86-64 target
/// only assumes SSE2), so loops inlined into `f` use 8 or 4 lanes instead of 2. Results are
/// the same on every path: the loops neither reorder sums nor fuse multiplies and adds.
#[inline(always)]
pub fn vectorised<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { run_avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { run_avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn run_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squared_differences_add_up_column_by_column() {
        let cols = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0];
        let mut out = vec![0.0; 11];
        add_squared_differences(&mut out, &cols, 2.0, true);
        add_squared_differences(&mut out, &cols, 0.5, false);
        for (i, &o) in out.iter().enumerate() {
            let v = cols[i];
            assert_eq!(o, (v - 2.0) * (v - 2.0) + (v - 0.5) * (v - 0.5));
        }
        assert_eq!(
            column_major(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
        assert_eq!(vectorised(|| 2 + 2), 4);
        let lagged = super::super::Matrix::from_lag_series(&[1.0, 2.0, 3.0, 4.0], 3, 2).unwrap();
        let plain = super::super::Matrix::new(3, 2, lagged.data().to_vec()).unwrap();
        for c in 0..2 {
            assert_eq!(Columns::of(&lagged).get(c), Columns::of(&plain).get(c));
        }
        // Every code path gives the scalar loop's bits.
        let col: Vec<f64> = (0..37).map(|i| (i as f64 * 0.37).sin() * 1e3).collect();
        let mut scalar = vec![1.5; 37];
        add_squared_differences_scalar(&mut scalar, &col, 0.1, false);
        let mut fast = vec![1.5; 37];
        add_squared_differences(&mut fast, &col, 0.1, false);
        assert_eq!(fast, scalar);
    }
}
