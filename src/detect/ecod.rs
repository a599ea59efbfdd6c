//! ECOD (empirical cumulative distribution outlier detection), as PyOD's `ECOD`: per column
//! the larger of the left and right tail scores (both added for a constant column), summed
//! over columns. Rows are scored against the training rows plus the rows scored with them.

use serde::{Deserialize, Serialize};

use super::tails::reference_columns;
use super::{DetectError, Detector, Features, Matrix};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcodParams {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EcodModel {
    pub train: Matrix,
}

impl Detector for EcodParams {
    type Model = EcodModel;

    fn fit(&self, train: &Features) -> Result<(EcodModel, Vec<f64>), DetectError> {
        if train.x.is_empty() {
            return Err(DetectError::NotEnoughRows { needed: 1, got: 0 });
        }
        let scores = ecod_scores(&train.x, None);
        Ok((
            EcodModel {
                train: train.x.clone(),
            },
            scores,
        ))
    }

    fn score(model: &EcodModel, rows: &Features) -> Vec<f64> {
        ecod_scores(&model.train, Some(&rows.x))
    }
}

fn ecod_scores(train: &Matrix, rows: Option<&Matrix>) -> Vec<f64> {
    let columns = reference_columns(train, rows);
    let queries = rows.unwrap_or(train);
    queries
        .iter_rows()
        .map(|row| {
            row.iter()
                .zip(&columns)
                .map(|(&q, col)| {
                    let (left, right) = col.tails(q);
                    if col.skewness == 0.0 {
                        left + right
                    } else {
                        left.max(right)
                    }
                })
                .sum()
        })
        .collect()
}
