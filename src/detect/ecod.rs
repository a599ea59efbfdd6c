//! ECOD (empirical cumulative distribution outlier detection), as PyOD's `ECOD`: per column
//! the larger of the left and right tail scores (both added for a constant column), summed
//! over columns. Rows are scored against the training rows plus the rows scored with them.

use serde::{Deserialize, Serialize};

use super::tails::{ColumnTails, TailModel};
use super::{DetectError, Detector, Features};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcodParams {}

pub type EcodModel = TailModel;

impl Detector for EcodParams {
    type Model = EcodModel;

    fn fit(&self, train: &Features) -> Result<(EcodModel, Vec<f64>), DetectError> {
        TailModel::fit(train, column_score)
    }

    fn score(model: &EcodModel, rows: &Features) -> Vec<f64> {
        model.score(rows, column_score)
    }
}

/// The larger tail; both added for a constant column.
fn column_score(col: &ColumnTails, q: f64) -> f64 {
    let (left, right) = col.tails(q);
    if col.skewness == 0.0 {
        left + right
    } else {
        left.max(right)
    }
}
