//! The prompts: a system prompt, a detection prompt, and a verification prompt that re-checks
//! the candidates (the original's anomaly-agent flow), each replaceable per batch. The series
//! goes in as `timestamp,value` lines under the metric's real name.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::parse::Flag;

pub const SYSTEM: &str = "You are an expert in time series anomaly detection for business and \
operational metrics. You answer only with JSON that follows the requested schema.";

/// The system prompt when a chart goes along (`llmalert_include_plot`).
pub const SYSTEM_WITH_CHART: &str = "You are an expert in time series anomaly detection for \
business and operational metrics. A chart of the series is attached: use it to see the shape of \
the series, but take timestamps and values only from the listed points. You answer only with \
JSON that follows the requested schema.";

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

/// The user message's `content`: the text alone, or the text and the chart as a PNG data URL
/// (the OpenAI vision format, which OpenRouter and Ollama's OpenAI API accept too).
pub fn user_content(text: String, chart_png: Option<&[u8]>) -> Value {
    match chart_png {
        None => Value::String(text),
        Some(png) => json!([
            {"type": "text", "text": text},
            {"type": "image_url", "image_url": {
                "url": format!("data:image/png;base64,{}", STANDARD.encode(png))
            }}
        ]),
    }
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

    #[test]
    fn a_chart_goes_along_as_a_png_data_url_after_the_text() {
        assert_eq!(user_content("hi".into(), None), Value::String("hi".into()));
        let parts = user_content("hi".into(), Some(b"\x89PNG"));
        assert_eq!(parts[0], json!({"type": "text", "text": "hi"}));
        assert_eq!(parts[1]["type"], "image_url");
        assert_eq!(
            parts[1]["image_url"]["url"],
            "data:image/png;base64,iVBORw=="
        );
    }
}
