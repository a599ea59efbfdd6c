//! A dense row-major matrix of features: one row per timestamp, one column per feature.

use serde::{Deserialize, Serialize};

use super::DetectError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    #[serde(with = "super::codec::floats")]
    data: Vec<f64>,
}

impl Matrix {
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Result<Self, DetectError> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(DetectError::Shape(format!(
                "{rows} rows of {cols} columns need {} values, got {}",
                rows.saturating_mul(cols),
                data.len()
            )));
        }
        Ok(Self { rows, cols, data })
    }

    /// From rows of equal length.
    pub fn from_rows(rows: &[Vec<f64>]) -> Result<Self, DetectError> {
        let cols = rows.first().map_or(0, Vec::len);
        if let Some(bad) = rows.iter().position(|r| r.len() != cols) {
            return Err(DetectError::Shape(format!(
                "row {bad} has {} values, expected {cols}",
                rows[bad].len()
            )));
        }
        Ok(Self {
            rows: rows.len(),
            cols,
            data: rows.iter().flatten().copied().collect(),
        })
    }

    pub fn empty(cols: usize) -> Self {
        Self {
            rows: 0,
            cols,
            data: Vec::new(),
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    pub fn iter_rows(&self) -> impl Iterator<Item = &[f64]> {
        // chunks_exact(0) panics; a matrix without columns has no meaningful rows.
        self.data.chunks_exact(self.cols.max(1))
    }

    pub fn column(&self, j: usize) -> Vec<f64> {
        self.iter_rows().map(|r| r[j]).collect()
    }

    pub fn data(&self) -> &[f64] {
        &self.data
    }

    /// Rows of `self` followed by rows of `other` (same width).
    pub fn stacked(&self, other: &Matrix) -> Result<Matrix, DetectError> {
        if self.cols != other.cols {
            return Err(DetectError::Shape(format!(
                "cannot stack {} columns on {}",
                other.cols, self.cols
            )));
        }
        let mut data = Vec::with_capacity(self.data.len() + other.data.len());
        data.extend_from_slice(&self.data);
        data.extend_from_slice(&other.data);
        Matrix::new(self.rows + other.rows, self.cols, data)
    }

    /// The matrix with rows in the given order.
    pub fn select_rows(&self, order: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(order.len() * self.cols);
        for &i in order {
            data.extend_from_slice(self.row(i));
        }
        Matrix {
            rows: order.len(),
            cols: self.cols,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_checked() {
        assert!(Matrix::new(2, 3, vec![0.0; 5]).is_err());
        assert!(Matrix::from_rows(&[vec![1.0], vec![1.0, 2.0]]).is_err());
        let m = Matrix::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0]]).unwrap();
        assert_eq!(m.row(1), &[3.0, 4.0]);
        assert_eq!(m.column(0), vec![1.0, 3.0]);
        assert_eq!(m.stacked(&m).unwrap().rows(), 4);
        assert_eq!(m.select_rows(&[1, 0]).row(0), &[3.0, 4.0]);
    }
}
