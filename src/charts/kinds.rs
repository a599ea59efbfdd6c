//! The words for the kinds of anomaly, shared by every page, chart and message, so a kind is
//! called and coloured the same everywhere (the colour is the CSS class, the type's name).

use crate::store::{KindCounts, MetricType};

/// A kind's short name: "ML", "threshold", "change", "LLM".
pub fn kind_label(kind: MetricType) -> &'static str {
    match kind {
        MetricType::Alert => "ML",
        MetricType::TholdAlert => "threshold",
        MetricType::Change => "change",
        MetricType::LlmAlert => "LLM",
        _ => kind.as_str(),
    }
}

/// "3 ML · 1 threshold": the kinds with a count, or "" when there are none.
pub fn kinds_words(kinds: &KindCounts) -> String {
    kinds
        .each()
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{n} {}", kind_label(*k)))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// "1 anomaly", "3 anomalies".
pub fn anomalies_words(n: u32) -> String {
    format!("{n} {}", if n == 1 { "anomaly" } else { "anomalies" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_once() {
        let k = KindCounts {
            ml: 3,
            threshold: 1,
            change: 0,
            llm: 2,
        };
        assert_eq!(kinds_words(&k), "3 ML · 1 threshold · 2 LLM");
        assert_eq!(kinds_words(&KindCounts::default()), "");
        assert_eq!(anomalies_words(1), "1 anomaly");
        assert_eq!(anomalies_words(0), "0 anomalies");
    }
}
