//! A dense row-major matrix of features: one row per timestamp, one column per feature.
//!
//! Serialized as its values, or, when every row is the previous one shifted by one lag (the
//! usual lag features), as the series the rows were cut from: `cols` times smaller, which is
//! what a KNN model stores of its training rows.

use std::borrow::Cow;

use serde::de::Error as _;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::DetectError;

#[derive(Debug, Clone)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
    /// The series behind a lag matrix, when whoever built the matrix knew it (preprocessing,
    /// a lag-form model): lag-aware code and the model format need not rediscover it.
    lags: Option<Vec<f64>>,
}

/// Matrices are equal when their values are; knowing the series or not makes no difference.
impl PartialEq for Matrix {
    fn eq(&self, other: &Self) -> bool {
        self.rows == other.rows && self.cols == other.cols && self.data == other.data
    }
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
        Ok(Self {
            rows,
            cols,
            data,
            lags: None,
        })
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
            lags: None,
        })
    }

    pub fn empty(cols: usize) -> Self {
        Self {
            rows: 0,
            cols,
            data: Vec::new(),
            lags: None,
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

    /// The series behind a lag matrix: if every row is the previous one shifted by one
    /// column (column c of row t is column c-1 of row t-1, bit for bit), the values `s` with
    /// row t equal to `s[t..t + cols]` reversed.
    pub fn lag_series(&self) -> Option<Cow<'_, [f64]>> {
        if let Some(lags) = &self.lags {
            return Some(Cow::Borrowed(lags));
        }
        let (n, m) = (self.rows, self.cols);
        if n < 2 || m < 2 {
            return None;
        }
        let shifted = (1..n).all(|t| {
            let (row, before) = (self.row(t), self.row(t - 1));
            row[1..]
                .iter()
                .zip(&before[..m - 1])
                .all(|(a, b)| a.to_bits() == b.to_bits())
        });
        if !shifted {
            return None;
        }
        let mut s = Vec::with_capacity(n + m - 1);
        s.extend(self.row(0).iter().rev());
        s.extend((1..n).map(|t| self.row(t)[0]));
        Some(Cow::Owned(s))
    }

    /// The series, if the matrix was built from it (no search).
    pub fn known_lags(&self) -> Option<&[f64]> {
        self.lags.as_deref()
    }

    /// The lag matrix of `rows` rows and `cols` columns cut from `series`.
    pub fn from_lag_series(series: &[f64], rows: usize, cols: usize) -> Result<Self, DetectError> {
        if cols < 2 || series.len() + 1 != rows + cols {
            return Err(DetectError::Shape(format!(
                "{rows} lag rows of {cols} columns need {} series values (and two columns or more), got {}",
                (rows + cols).saturating_sub(1),
                series.len()
            )));
        }
        let mut data = Vec::with_capacity(rows * cols);
        for t in 0..rows {
            data.extend(series[t..t + cols].iter().rev());
        }
        Ok(Self {
            rows,
            cols,
            data,
            lags: Some(series.to_vec()),
        })
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
            lags: None,
        }
    }
}

impl Serialize for Matrix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Floats<'a>(&'a [f64]);
        impl Serialize for Floats<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                super::codec::floats::serialize(self.0, s)
            }
        }
        let mut st = s.serialize_struct("Matrix", 3)?;
        st.serialize_field("rows", &self.rows)?;
        st.serialize_field("cols", &self.cols)?;
        match self.lag_series() {
            Some(series) => st.serialize_field("lags", &Floats(&series))?,
            None => st.serialize_field("data", &Floats(&self.data))?,
        }
        st.end()
    }
}

impl<'de> Deserialize<'de> for Matrix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Repr {
            rows: usize,
            cols: usize,
            #[serde(default, with = "super::codec::optional_floats")]
            data: Option<Vec<f64>>,
            #[serde(default, with = "super::codec::optional_floats")]
            lags: Option<Vec<f64>>,
        }
        let r = Repr::deserialize(d)?;
        let m = match (r.data, r.lags) {
            (Some(data), None) => Matrix::new(r.rows, r.cols, data),
            (None, Some(series)) => Matrix::from_lag_series(&series, r.rows, r.cols),
            _ => {
                return Err(D::Error::custom(
                    "a matrix needs exactly one of `data` and `lags`",
                ));
            }
        };
        m.map_err(D::Error::custom)
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

    #[test]
    fn lag_matrices_serialize_as_their_series_and_others_as_values() {
        let series: Vec<f64> = (0..20).map(|i| (i as f64).sin()).collect();
        let lagged = Matrix::from_lag_series(&series, 16, 5).unwrap();
        assert_eq!(
            lagged.row(1),
            &[series[5], series[4], series[3], series[2], series[1]]
        );
        assert_eq!(lagged.lag_series().unwrap(), series.as_slice());
        // The same values found by search.
        let searched = Matrix::new(16, 5, lagged.data().to_vec()).unwrap();
        assert_eq!(searched.known_lags(), None);
        assert_eq!(searched.lag_series().unwrap(), series.as_slice());
        let json = serde_json::to_value(&lagged).unwrap();
        assert!(json.get("lags").is_some() && json.get("data").is_none());
        let back: Matrix = serde_json::from_value(json).unwrap();
        assert_eq!(back, lagged);

        let plain = Matrix::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0]]).unwrap();
        let json = serde_json::to_value(&plain).unwrap();
        assert!(json.get("data").is_some() && json.get("lags").is_none());
        assert_eq!(serde_json::from_value::<Matrix>(json).unwrap(), plain);

        let bad = serde_json::json!({"rows": 3, "cols": 5, "lags": ""});
        assert!(serde_json::from_value::<Matrix>(bad).is_err());
        let both = serde_json::json!({"rows": 0, "cols": 1, "lags": "", "data": ""});
        assert!(serde_json::from_value::<Matrix>(both).is_err());
    }
}
