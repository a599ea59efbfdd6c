//! COPOD (copula-based outlier detection), as PyOD's `COPOD`: per column the larger of the
//! skew-chosen tail (left for negative skew, right for positive, both for none) and the mean
//! of the two tails, summed over columns. Same reference sets as ECOD.

use serde::{Deserialize, Serialize};

use super::tails::reference_columns;
use super::{DetectError, Detector, Features, Matrix};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopodParams {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CopodModel {
    pub train: Matrix,
}

impl Detector for CopodParams {
    type Model = CopodModel;

    fn fit(&self, train: &Features) -> Result<(CopodModel, Vec<f64>), DetectError> {
        if train.x.is_empty() {
            return Err(DetectError::NotEnoughRows { needed: 1, got: 0 });
        }
        let scores = copod_scores(&train.x, None);
        Ok((
            CopodModel {
                train: train.x.clone(),
            },
            scores,
        ))
    }

    fn score(model: &CopodModel, rows: &Features) -> Vec<f64> {
        copod_scores(&model.train, Some(&rows.x))
    }
}

fn copod_scores(train: &Matrix, rows: Option<&Matrix>) -> Vec<f64> {
    let columns = reference_columns(train, rows);
    let queries = rows.unwrap_or(train);
    queries
        .iter_rows()
        .map(|row| {
            row.iter()
                .zip(&columns)
                .map(|(&q, col)| {
                    let (left, right) = col.tails(q);
                    let skewed = if col.skewness < 0.0 {
                        left
                    } else if col.skewness > 0.0 {
                        right
                    } else {
                        left + right
                    };
                    skewed.max((left + right) / 2.0)
                })
                .sum()
        })
        .collect()
}
