//! The prompts: a system prompt, a detection prompt, and a verification prompt that re-checks
//! the candidates (the original's anomaly-agent flow), each replaceable per batch. The series
//! goes in as `timestamp,value` lines under the metric's real name.

use serde_json::{Value, json};

use super::parse::Flag;

pub const SYSTEM: &str = "You are an expert in time series anomaly detection for business and \
operational metrics. You answer only with JSON that follows the requested schema.";

pub const DETECTION: &str = "Find the anomalies in this time series. Look for values far outside \
the usual range (beyond 2-3 standard deviations of the recent behaviour), sudden breaks in trend, \
level shifts, and data quality problems such as impossible values or flat lines where the series \
usually moves. Be conservative: normal noise, regular seasonality and gradual trends are not \
anomalies. Report each anomaly with its exact timestamp as given, its value, and a short \
explanation a data analyst would understand. Report none if there are none.";

pub const VERIFICATION: &str = "You are a senior data scientist reviewing anomalies another \
analyst flagged in this time series. Keep only the ones that are clearly anomalous given the \
whole series, with their exact timestamps as given, values and explanations; drop false \
positives. Report none if none hold up.";

/// The user message: the metric and its points, and for verification the candidates.
pub fn user_message(
    metric: &str,
    task: &str,
    lines: &[(String, f64)],
    candidates: Option<&[Flag]>,
) -> String {
    let mut out =
        format!("{task}\n\nMetric: {metric}\nTime series (timestamp,value), oldest first:\n");
    for (ts, v) in lines {
        out.push_str(&format!("{ts},{v}\n"));
    }
    if let Some(c) = candidates {
        let list: Vec<Value> = c
            .iter()
            .map(|f| json!({"timestamp": f.timestamp, "variable_value": f.value, "anomaly_description": f.description}))
            .collect();
        out.push_str(&format!("\nCandidate anomalies:\n{}\n", Value::Array(list)));
    }
    out
}

/// The structured-output schema every answer is asked to follow.
pub fn response_format() -> Value {
    json!({
        "type": "json_schema",
        "json_schema": {
            "name": "anomaly_list",
            "strict": true,
            "schema": {
                "type": "object",
                "properties": {"anomalies": {"type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "timestamp": {"type": "string"},
                        "variable_value": {"type": "number"},
                        "anomaly_description": {"type": "string"}
                    },
                    "required": ["timestamp", "variable_value", "anomaly_description"],
                    "additionalProperties": false
                }}},
                "required": ["anomalies"],
                "additionalProperties": false
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_metric_and_lists_points_and_candidates() {
        let lines = vec![
            ("2026-01-01 00:00:00".to_owned(), 1.5),
            ("2026-01-01 00:05:00".to_owned(), 9.0),
        ];
        let m = user_message("signups", DETECTION, &lines, None);
        assert!(m.contains("Metric: signups"));
        assert!(m.contains("2026-01-01 00:05:00,9\n"));
        let c = [Flag {
            timestamp: "2026-01-01 00:05:00".into(),
            value: Some(9.0),
            description: "jump".into(),
        }];
        let v = user_message("signups", VERIFICATION, &lines, Some(&c));
        assert!(v.contains("Candidate anomalies") && v.contains("jump"));
    }
}
