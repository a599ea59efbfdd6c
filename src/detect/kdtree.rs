//! An exact k-nearest-neighbour search over a few thousand low-dimensional points. KNN's
//! training scores need every training row's neighbours, which brute force makes quadratic;
//! a k-d tree keeps a 1000-row metric at a few thousand distance evaluations.
//!
//! Distances are `sqrt(Σ (a_k − b_k)²)` from coordinate differences, summed in column order,
//! as scikit-learn's trees compute them; the search compares squared distances and prunes a
//! branch only when it cannot hold a strictly closer point, so the k smallest distances are
//! exactly those of a brute-force search.

use std::collections::BinaryHeap;

use super::Matrix;

const LEAF_SIZE: usize = 16;

/// The tree over the rows of a matrix; queries take the same matrix, so a scorer can keep the
/// index next to the data it indexes.
pub struct KdIndex {
    order: Vec<usize>,
    nodes: Vec<Node>,
}

enum Node {
    Leaf {
        start: usize,
        end: usize,
    },
    Split {
        dim: usize,
        value: f64,
        left: usize,
        right: usize,
    },
}

/// A distance ordered for the max-heap of current best candidates.
struct Dist(f64);
impl PartialEq for Dist {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Dist {}
impl PartialOrd for Dist {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Dist {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

struct Builder<'a> {
    points: &'a Matrix,
    order: Vec<usize>,
    nodes: Vec<Node>,
}

impl KdIndex {
    pub fn build(points: &Matrix) -> Self {
        let mut b = Builder {
            points,
            order: (0..points.rows()).collect(),
            nodes: Vec::new(),
        };
        if points.rows() > 0 {
            b.build(0, points.rows());
        }
        KdIndex {
            order: b.order,
            nodes: b.nodes,
        }
    }

    /// The `k` smallest distances from `query` to `points` (the matrix the index was built
    /// from), ascending.
    pub fn nearest_distances(&self, points: &Matrix, query: &[f64], k: usize) -> Vec<f64> {
        self.nearest_distances_except(points, query, k, &|_| false)
    }

    /// Like [`Self::nearest_distances`], leaving out the points for which `skip(index)` holds.
    pub fn nearest_distances_except(
        &self,
        points: &Matrix,
        query: &[f64],
        k: usize,
        skip: &dyn Fn(usize) -> bool,
    ) -> Vec<f64> {
        if k == 0 || self.nodes.is_empty() {
            return Vec::new();
        }
        let mut heap: BinaryHeap<Dist> = BinaryHeap::with_capacity(k + 1);
        self.search(points, 0, query, k, skip, &mut heap);
        let mut d: Vec<f64> = heap.into_iter().map(|d| d.0.sqrt()).collect();
        d.sort_by(f64::total_cmp);
        d
    }

    fn search(
        &self,
        points: &Matrix,
        node: usize,
        q: &[f64],
        k: usize,
        skip: &dyn Fn(usize) -> bool,
        heap: &mut BinaryHeap<Dist>,
    ) {
        match self.nodes[node] {
            Node::Leaf { start, end } => {
                for &i in &self.order[start..end] {
                    if skip(i) {
                        continue;
                    }
                    let d2: f64 = points
                        .row(i)
                        .iter()
                        .zip(q)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum();
                    if heap.len() < k {
                        heap.push(Dist(d2));
                    } else if heap.peek().is_some_and(|w| d2 < w.0) {
                        heap.pop();
                        heap.push(Dist(d2));
                    }
                }
            }
            Node::Split {
                dim,
                value,
                left,
                right,
            } => {
                let delta = q[dim] - value;
                let (near, far) = if delta < 0.0 {
                    (left, right)
                } else {
                    (right, left)
                };
                self.search(points, near, q, k, skip, heap);
                let worst = heap.peek().map(|w| w.0);
                if heap.len() < k || worst.is_some_and(|w| delta * delta <= w) {
                    self.search(points, far, q, k, skip, heap);
                }
            }
        }
    }
}

impl Builder<'_> {
    fn build(&mut self, start: usize, end: usize) -> usize {
        let id = self.nodes.len();
        if end - start <= LEAF_SIZE || self.points.cols() == 0 {
            self.nodes.push(Node::Leaf { start, end });
            return id;
        }
        // Split the widest dimension at its median.
        let (dim, spread) = (0..self.points.cols())
            .map(|d| {
                let (lo, hi) = self.order[start..end].iter().fold(
                    (f64::INFINITY, f64::NEG_INFINITY),
                    |(lo, hi), &i| {
                        let v = self.points.row(i)[d];
                        (lo.min(v), hi.max(v))
                    },
                );
                (d, hi - lo)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 0.0));
        if spread <= 0.0 || spread.is_nan() {
            self.nodes.push(Node::Leaf { start, end });
            return id;
        }
        let mid = start + (end - start) / 2;
        let points = self.points;
        self.order[start..end].select_nth_unstable_by(mid - start, |&a, &b| {
            points.row(a)[dim].total_cmp(&points.row(b)[dim])
        });
        let value = points.row(self.order[mid])[dim];
        self.nodes.push(Node::Split {
            dim,
            value,
            left: 0,
            right: 0,
        });
        let left = self.build(start, mid);
        let right = self.build(mid, end);
        if let Node::Split {
            left: l, right: r, ..
        } = &mut self.nodes[id]
        {
            *l = left;
            *r = right;
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(points: &Matrix, q: &[f64], k: usize) -> Vec<f64> {
        let mut d: Vec<f64> = points
            .iter_rows()
            .map(|r| {
                r.iter()
                    .zip(q)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt()
            })
            .collect();
        d.sort_by(f64::total_cmp);
        d.truncate(k);
        d
    }

    #[test]
    fn matches_brute_force_including_duplicates() {
        // A deterministic cloud with repeated points.
        let mut rows = Vec::new();
        let mut s: u64 = 7;
        for i in 0..500 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let a = (s >> 33) as f64 / 2f64.powi(31);
            let b = ((s >> 13) & 0xffff) as f64 / 65536.0;
            rows.push(vec![a, b, (i % 7) as f64]);
            if i % 50 == 0 {
                rows.push(vec![a, b, (i % 7) as f64]);
            }
        }
        let m = Matrix::from_rows(&rows).unwrap();
        let tree = KdIndex::build(&m);
        for q in rows.iter().step_by(13) {
            assert_eq!(tree.nearest_distances(&m, q, 6), brute(&m, q, 6));
        }
        let far = [10.0, 10.0, 10.0];
        assert_eq!(tree.nearest_distances(&m, &far, 3), brute(&m, &far, 3));
        // Skipping points gives the brute-force answer over the rest.
        let rest = Matrix::from_rows(&rows[100..]).unwrap();
        assert_eq!(
            tree.nearest_distances_except(&m, &rows[5], 4, &|i| i < 100),
            brute(&rest, &rows[5], 4)
        );
    }
}
