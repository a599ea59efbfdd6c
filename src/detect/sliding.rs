//! One step of the sliding-window recurrence over a row of squared distances, noting the
//! entries that come out at or below a threshold: the inner loop of `lagknn`'s search for
//! every row's neighbours, in single or double precision. Written with explicit vector
//! instructions: left to the optimiser, the loop came out as scatters or scalar, depending on
//! where it was inlined.

/// Where a step notes near entries: `(value, base + t)` onto `near` for each new value at
/// most `within`, until `near` holds more than `cap`.
pub struct Marks<'a, T> {
    pub within: T,
    pub base: usize,
    pub cap: usize,
    pub near: &'a mut Vec<(f64, usize)>,
}

/// A float the step runs in.
pub trait Sliding: Copy + PartialOrd + Into<f64> {
    /// `row[t] = row[t] + (a - entering[t])² - (b - leaving[t])²` for every t (in that order
    /// of operations on every path, so every path gives the same bits), noting near entries
    /// in `marks`. Returns whether `marks` overflowed.
    fn step_and_mark(
        row: &mut [Self],
        entering: &[Self],
        leaving: &[Self],
        step: (Self, Self),
        marks: &mut Marks<Self>,
    ) -> bool;
}

/// The scalar loop, from position `from` on.
fn step_and_mark_scalar<T>(
    row: &mut [T],
    entering: &[T],
    leaving: &[T],
    (a, b): (T, T),
    marks: &mut Marks<T>,
    from: usize,
) where
    T: Copy
        + PartialOrd
        + Into<f64>
        + std::ops::Add<Output = T>
        + std::ops::Sub<Output = T>
        + std::ops::Mul<Output = T>,
{
    for t in from..row.len() {
        let de = a - entering[t];
        let dl = b - leaving[t];
        let d = row[t] + de * de - dl * dl;
        row[t] = d;
        if d <= marks.within && marks.near.len() <= marks.cap {
            marks.near.push((d.into(), marks.base + t));
        }
    }
}

macro_rules! sliding {
    ($t:ty, $avx512:ident) => {
        impl Sliding for $t {
            #[inline]
            fn step_and_mark(
                row: &mut [Self],
                entering: &[Self],
                leaving: &[Self],
                step: (Self, Self),
                marks: &mut Marks<Self>,
            ) -> bool {
                let len = row.len();
                let (entering, leaving) = (&entering[..len], &leaving[..len]);
                #[cfg(target_arch = "x86_64")]
                {
                    if std::arch::is_x86_feature_detected!("avx512f") {
                        // SAFETY: the CPU has AVX-512F; the slices have len elements.
                        unsafe { x86::$avx512(row, entering, leaving, step, marks) };
                        return marks.near.len() > marks.cap;
                    }
                }
                step_and_mark_scalar(row, entering, leaving, step, marks, 0);
                marks.near.len() > marks.cap
            }
        }
    };
}

sliding!(f64, step_and_mark_f64);
sliding!(f32, step_and_mark_f32);

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Marks;

    /// Hits gathered before they are pushed.
    const HITS: usize = 256;

    macro_rules! kernel {
        ($name:ident, $t:ty, $lanes:expr, $set1:ident, $load:ident, $store:ident, $sub:ident,
         $add:ident, $mul:ident, $cmp:ident) => {
            #[target_feature(enable = "avx512f")]
            pub unsafe fn $name(
                row: &mut [$t],
                entering: &[$t],
                leaving: &[$t],
                (a, b): ($t, $t),
                marks: &mut Marks<$t>,
            ) {
                let n = row.len();
                let whole = n - n % $lanes;
                let (av, bv, wv) = ($set1(a), $set1(b), $set1(marks.within));
                let (r, e, l) = (row.as_mut_ptr(), entering.as_ptr(), leaving.as_ptr());
                // Hits are gathered into a local buffer and pushed between segments: a push
                // (which may grow the vector) inside the loop made the compiler spill and
                // reload the loop's registers on every iteration.
                let mut hits_at = [0u32; HITS];
                let mut t = 0;
                while t < whole {
                    let mut found = 0;
                    let gather = marks.near.len() <= marks.cap;
                    while t < whole && found <= HITS - $lanes {
                        // SAFETY: t + lanes <= n for all three slices.
                        let mask = unsafe {
                            let de = $sub(av, $load(e.add(t)));
                            let dl = $sub(bv, $load(l.add(t)));
                            let d = $sub($add($load(r.add(t)), $mul(de, de)), $mul(dl, dl));
                            $store(r.add(t), d);
                            $cmp::<_CMP_LE_OQ>(d, wv)
                        };
                        let mut hits = if gather { mask as u32 } else { 0 };
                        while hits != 0 {
                            hits_at[found] = (t + hits.trailing_zeros() as usize) as u32;
                            found += 1;
                            hits &= hits - 1;
                        }
                        t += $lanes;
                    }
                    for &at in &hits_at[..found] {
                        if marks.near.len() > marks.cap {
                            break;
                        }
                        let at = at as usize;
                        marks.near.push((row[at].into(), marks.base + at));
                    }
                }
                super::step_and_mark_scalar(row, entering, leaving, (a, b), marks, whole);
            }
        };
    }

    kernel!(
        step_and_mark_f64,
        f64,
        8,
        _mm512_set1_pd,
        _mm512_loadu_pd,
        _mm512_storeu_pd,
        _mm512_sub_pd,
        _mm512_add_pd,
        _mm512_mul_pd,
        _mm512_cmp_pd_mask
    );
    kernel!(
        step_and_mark_f32,
        f32,
        16,
        _mm512_set1_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_sub_ps,
        _mm512_add_ps,
        _mm512_mul_ps,
        _mm512_cmp_ps_mask
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_as_scalar<T>(len: usize)
    where
        T: Sliding
            + std::fmt::Debug
            + std::ops::Add<Output = T>
            + std::ops::Sub<Output = T>
            + std::ops::Mul<Output = T>,
        f64: IntoLane<T>,
    {
        let entering: Vec<T> = (0..len)
            .map(|t| ((t as f64 * 0.37).sin() * 3.0).lane())
            .collect();
        let leaving: Vec<T> = (0..len)
            .map(|t| ((t as f64 * 0.11).cos() * 2.0).lane())
            .collect();
        let start: Vec<T> = (0..len)
            .map(|t| (4.0 + (t as f64 * 0.7).sin()).lane())
            .collect();
        let step = (1.5.lane(), (-0.5).lane());
        let (mut fast, mut slow) = (start.clone(), start);
        let (mut near_fast, mut near_slow) = (Vec::new(), Vec::new());
        let marks = |near| Marks {
            within: 5.0.lane(),
            base: 10,
            cap: 1000,
            near,
        };
        T::step_and_mark(
            &mut fast,
            &entering,
            &leaving,
            step,
            &mut marks(&mut near_fast),
        );
        step_and_mark_scalar(
            &mut slow,
            &entering,
            &leaving,
            step,
            &mut marks(&mut near_slow),
            0,
        );
        assert_eq!(fast, slow);
        assert_eq!(near_fast, near_slow);
        assert!(!near_fast.is_empty() && near_fast.len() < len);
        assert!(
            near_fast
                .iter()
                .all(|&(d, t)| d <= 5.0 && fast[t - 10].into() == d)
        );
        // The cap stops the marks, not the arithmetic.
        let (mut capped, mut near) = (fast.clone(), Vec::new());
        let mut all = Marks {
            within: f64::INFINITY.lane(),
            base: 0,
            cap: 3,
            near: &mut near,
        };
        assert!(T::step_and_mark(
            &mut capped,
            &entering,
            &leaving,
            step,
            &mut all
        ));
        assert_eq!(near.len(), 4);
        assert_ne!(capped, fast);
        // Every entry near: all noted, in order, however many segments the hits take.
        let (mut every, mut near) = (fast.clone(), Vec::new());
        let mut all = Marks {
            within: f64::INFINITY.lane(),
            base: 0,
            cap: usize::MAX,
            near: &mut near,
        };
        assert!(!T::step_and_mark(
            &mut every, &entering, &leaving, step, &mut all
        ));
        let order: Vec<usize> = near.iter().map(|&(_, t)| t).collect();
        assert_eq!(order, (0..len).collect::<Vec<_>>());
    }

    trait IntoLane<T> {
        fn lane(self) -> T;
    }
    impl IntoLane<f64> for f64 {
        fn lane(self) -> f64 {
            self
        }
    }
    impl IntoLane<f32> for f64 {
        fn lane(self) -> f32 {
            self as f32
        }
    }

    #[test]
    fn every_path_gives_the_scalar_bits_and_the_same_marks() {
        for len in [37, 64, 5, 1000] {
            same_as_scalar::<f64>(len.max(20));
            same_as_scalar::<f32>(len.max(20));
        }
    }
}
