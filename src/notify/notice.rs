//! What a job hands over to be sent: the notice, in terms every channel can lay out. Defined
//! here, where messages are made, so `notify` depends on nothing of the jobs that raise them.

/// A message a job wants sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub kind: &'static str,
    pub metric: String,
    pub title: String,
    pub description: String,
    /// Tabular content (the daily summary), which each channel lays out as it can.
    pub table: Option<Table>,
}

/// Rows of cells under named columns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}
