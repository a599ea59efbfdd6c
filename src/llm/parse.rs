//! Reading the model's answer leniently: models wrap JSON in code fences, add prose around it,
//! answer a bare list instead of `{"anomalies": [...]}`, or rename fields. Whatever can be read
//! as anomalies is; the rest is an error that quotes the start of the answer.

use serde_json::Value;

/// One anomaly the model reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub timestamp: String,
    pub value: Option<f64>,
    pub description: String,
}

/// The anomalies in `content`.
pub fn anomalies(content: &str) -> Result<Vec<Flag>, String> {
    let value = json_in(content).ok_or_else(|| {
        let start: String = content.chars().take(120).collect();
        format!("the answer is not JSON: {start:?}")
    })?;
    let list = match &value {
        Value::Array(items) => items.clone(),
        Value::Object(map) => match map
            .get("anomalies")
            .or_else(|| map.values().find(|v| v.is_array()))
        {
            Some(Value::Array(items)) => items.clone(),
            _ => return Err("the answer has no list of anomalies".into()),
        },
        _ => return Err("the answer has no list of anomalies".into()),
    };
    Ok(list.iter().filter_map(flag).collect())
}

fn flag(item: &Value) -> Option<Flag> {
    let field = |names: &[&str]| names.iter().find_map(|n| item.get(*n)).cloned();
    let timestamp = match field(&["timestamp", "metric_timestamp", "time", "ts"])? {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let value = field(&["variable_value", "value", "metric_value"]).and_then(|v| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    let description = match field(&[
        "anomaly_description",
        "description",
        "explanation",
        "reason",
    ]) {
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    };
    Some(Flag {
        timestamp: timestamp.trim().to_owned(),
        value,
        description,
    })
}

/// The first JSON object or array in `text`, fenced or not.
fn json_in(text: &str) -> Option<Value> {
    let text = text.trim();
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Some(v);
    }
    let unfenced = text
        .trim_start_matches("```json")
        .trim_start_matches("```")
        .trim_end_matches("```")
        .trim();
    if let Ok(v) = serde_json::from_str::<Value>(unfenced) {
        return Some(v);
    }
    for (open, close) in [('{', '}'), ('[', ']')] {
        if let (Some(start), Some(end)) = (text.find(open), text.rfind(close))
            && start < end
            && let Ok(v) = serde_json::from_str::<Value>(&text[start..=end])
        {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_fenced_bare_and_renamed_answers_are_read() {
        let strict = r#"{"anomalies": [{"timestamp": "2026-01-01 00:05:00", "variable_value": 50, "anomaly_description": "spike"}]}"#;
        assert_eq!(
            anomalies(strict).unwrap(),
            vec![Flag {
                timestamp: "2026-01-01 00:05:00".into(),
                value: Some(50.0),
                description: "spike".into()
            }]
        );
        let fenced = format!("Here you go:\n```json\n{strict}\n```\nHope it helps");
        assert_eq!(anomalies(&fenced).unwrap().len(), 1);
        let bare = r#"[{"time": "t1", "value": "3.5", "explanation": "drop"}]"#;
        let f = &anomalies(bare).unwrap()[0];
        assert_eq!(
            (f.timestamp.as_str(), f.value, f.description.as_str()),
            ("t1", Some(3.5), "drop")
        );
        assert_eq!(anomalies(r#"{"anomalies": []}"#).unwrap(), vec![]);
    }

    #[test]
    fn malformed_answers_say_what_they_were() {
        let err = anomalies("I think the series looks fine {not json").unwrap_err();
        assert!(
            err.contains("not JSON") && err.contains("looks fine"),
            "{err}"
        );
        assert!(anomalies(r#"{"verdict": "ok"}"#).is_err());
    }
}
