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
    /// On an alert row: the metric's alert budget was spent, so it was held for the summary.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub over_budget: bool,
    /// On an alert row: written by history seeding (`ANOMSTACK_SEED_HOURS`), never sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub seeded: bool,
}

impl ScoreNotes {
    /// Whether an alert row with these notes was sent to people (neither held by a budget nor
    /// written by seeding): what budgets count and "back to normal" follows.
    pub fn told(&self) -> bool {
        !self.over_budget && !self.seeded
    }
}

/// The markers of alerts nobody was sent, as SQL's `LIKE` finds them in the metadata.
pub(super) const OVER_BUDGET_LIKE: &str = "%\"over_budget\":true%";
pub(super) const SEEDED_LIKE: &str = "%\"seeded\":true%";

/// A score row's metadata: `{"extreme":true,"level":3.2}`, each part only when it applies;
/// empty when neither does.
pub fn score_metadata(extreme: bool, level: Option<f64>) -> String {
    written(ScoreNotes {
        extreme,
        level: level.map(|l| (l * 1e4).round() / 1e4),
        ..ScoreNotes::default()
    })
}

/// An alert row's metadata: `{"extreme":true,"over_budget":true}`, each part only when it
/// applies.
pub fn alert_metadata(extreme: bool, over_budget: bool) -> String {
    written(ScoreNotes {
        extreme,
        over_budget,
        ..ScoreNotes::default()
    })
}

/// The metadata of an alert row that history seeding wrote: `{"seeded":true}`.
pub fn seeded_alert_metadata() -> String {
    written(ScoreNotes {
        seeded: true,
        ..ScoreNotes::default()
    })
}

fn written(notes: ScoreNotes) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_nobody_was_sent_are_marked_and_found() {
        assert_eq!(alert_metadata(false, false), "");
        assert!(score_notes(&alert_metadata(true, false)).told());
        let held = alert_metadata(false, true);
        let seeded = seeded_alert_metadata();
        assert!(!score_notes(&held).told() && !score_notes(&seeded).told());
        // The SQL patterns find exactly these.
        let like = |pattern: &str, text: &str| {
            let inner = pattern.trim_matches('%');
            text.contains(inner)
        };
        assert!(like(OVER_BUDGET_LIKE, &held) && !like(OVER_BUDGET_LIKE, &seeded));
        assert!(like(SEEDED_LIKE, &seeded) && !like(SEEDED_LIKE, &held));
        assert_eq!(score_notes("not json"), ScoreNotes::default());
    }
}
