//! The metadata of a score row: what the score job noted beyond the score, read back by the
//! alert job (extremes), feedback (levels) and the metric page.

/// What a score row's metadata says beyond the score.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoreNotes {
    /// Beyond everything its models saw in training: the alert job alerts on it at once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub extreme: bool,
    /// The point's level (`TrainedModel::level`, combined over models), for feedback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<f64>,
}

/// A score row's metadata: `{"extreme":true,"level":3.2}`, each part only when it applies;
/// empty when neither does.
pub fn score_metadata(extreme: bool, level: Option<f64>) -> String {
    let notes = ScoreNotes {
        extreme,
        level: level.map(|l| (l * 1e4).round() / 1e4),
    };
    if notes == ScoreNotes::default() {
        return String::new();
    }
    serde_json::to_string(&notes).unwrap_or_default()
}

/// What a score (or alert) row's metadata says; nothing for empty or foreign metadata.
pub fn score_notes(metadata: &str) -> ScoreNotes {
    // Most score rows carry no metadata: no parse for them.
    if metadata.is_empty() {
        return ScoreNotes::default();
    }
    serde_json::from_str(metadata).unwrap_or_default()
}
