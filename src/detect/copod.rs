//! COPOD (copula-based outlier detection), as PyOD's `COPOD`: per column the larger of the
//! skew-chosen tail (left for negative skew, right for positive, both for none) and the mean
//! of the two tails, summed over columns. Same reference sets as ECOD.

use serde::{Deserialize, Serialize};

use super::tails::{ColumnTails, TailModel};
use super::{DetectError, Detector, Features};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopodParams {}

pub type CopodModel = TailModel;

impl Detector for CopodParams {
    type Model = CopodModel;

    fn fit(&self, train: &Features) -> Result<(CopodModel, Vec<f64>), DetectError> {
        TailModel::fit(train, column_score)
    }

    fn score(model: &CopodModel, rows: &Features) -> Vec<f64> {
        model.score(rows, column_score)
    }
}

/// The larger of the skew-chosen tail and the mean of both.
fn column_score(col: &ColumnTails, q: f64) -> f64 {
    let (left, right) = col.tails(q);
    let skewed = if col.skewness < 0.0 {
        left
    } else if col.skewness > 0.0 {
        right
    } else {
        left + right
    };
    skewed.max((left + right) / 2.0)
}
