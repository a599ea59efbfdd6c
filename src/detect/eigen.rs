//! Eigen-decomposition of a small symmetric matrix by cyclic Jacobi rotations. PCA needs the
//! eigenvectors of a covariance matrix with as many rows as features (6 by default); Jacobi is
//! simple, needs no dependency, and is accurate to a few ulps, which PyOD parity requires.

/// Eigenvalues and unit eigenvectors (`vectors[j]` belongs to `values[j]`), unsorted.
pub struct Eigen {
    pub values: Vec<f64>,
    pub vectors: Vec<Vec<f64>>,
}

/// `a` is `n × n`, row-major and symmetric.
pub fn symmetric_eigen(a: &[f64], n: usize) -> Eigen {
    let mut m = a.to_vec();
    // v holds the eigenvectors as columns.
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let at = |i: usize, j: usize| i * n + j;
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .map(|(i, j)| m[at(i, j)].abs())
            .sum();
        if off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[at(p, q)];
                if apq == 0.0 {
                    continue;
                }
                let app = m[at(p, p)];
                let aqq = m[at(q, q)];
                // Rotation angle chosen so that the new (p, q) entry is zero (Rutishauser's form).
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                let tau = s / (1.0 + c);
                m[at(p, p)] = app - t * apq;
                m[at(q, q)] = aqq + t * apq;
                m[at(p, q)] = 0.0;
                m[at(q, p)] = 0.0;
                for r in 0..n {
                    if r != p && r != q {
                        let arp = m[at(r, p)];
                        let arq = m[at(r, q)];
                        let new_rp = arp - s * (arq + tau * arp);
                        let new_rq = arq + s * (arp - tau * arq);
                        m[at(r, p)] = new_rp;
                        m[at(p, r)] = new_rp;
                        m[at(r, q)] = new_rq;
                        m[at(q, r)] = new_rq;
                    }
                }
                for r in 0..n {
                    let vrp = v[at(r, p)];
                    let vrq = v[at(r, q)];
                    v[at(r, p)] = vrp - s * (vrq + tau * vrp);
                    v[at(r, q)] = vrq + s * (vrp - tau * vrq);
                }
            }
        }
    }
    Eigen {
        values: (0..n).map(|i| m[at(i, i)]).collect(),
        vectors: (0..n)
            .map(|j| (0..n).map(|r| v[at(r, j)]).collect())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decomposes_a_known_matrix() {
        // [[2, 1], [1, 2]] has eigenvalues 1 and 3.
        let e = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        let mut vals = e.values.clone();
        vals.sort_by(f64::total_cmp);
        assert!((vals[0] - 1.0).abs() < 1e-15 && (vals[1] - 3.0).abs() < 1e-15);
        for (val, vec) in e.values.iter().zip(&e.vectors) {
            let av = [2.0 * vec[0] + vec[1], vec[0] + 2.0 * vec[1]];
            assert!((av[0] - val * vec[0]).abs() < 1e-14);
            assert!((av[1] - val * vec[1]).abs() < 1e-14);
            assert!(((vec[0] * vec[0] + vec[1] * vec[1]) - 1.0).abs() < 1e-15);
        }
    }

    #[test]
    fn diagonal_and_zero_matrices_are_left_alone() {
        let e = symmetric_eigen(&[0.0; 9], 3);
        assert_eq!(e.values, vec![0.0; 3]);
        let e = symmetric_eigen(&[5.0, 0.0, 0.0, 7.0], 2);
        assert_eq!(e.values, vec![5.0, 7.0]);
    }
}
