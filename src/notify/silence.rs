//! Which silence, if any, mutes an alert. A silence matches when every matcher it sets matches:
//! batch (exact), metric (exact, or a glob with `*`), and one tag `key=value` of the metric's
//! `metric_tags`. A muted alert is still saved; only its message is held back.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use chrono::Utc;
use serde::Deserialize;

use crate::store::{NewSilence, Silence};
use crate::timestamp::parse_duration;

/// A silence as asked for: by the admin panel's form, or as the API's JSON body.
#[derive(Debug, Default, Deserialize)]
pub struct SilenceForm {
    #[serde(default)]
    batch: String,
    #[serde(default)]
    metric: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    comment: String,
}

impl SilenceForm {
    /// The silence asked for (by the admin form or the API's JSON), made by `by`; the error
    /// says which field is wrong.
    pub fn silence(
        &self,
        by: &str,
        known_batch: impl Fn(&str) -> bool,
    ) -> Result<NewSilence, String> {
        let (batch, metric, tag) = (self.batch.trim(), self.metric.trim(), self.tag.trim());
        let (duration, comment) = (self.duration.as_str(), self.comment.as_str());
        if batch.is_empty() && metric.is_empty() && tag.is_empty() {
            return Err("Choose at least one of batch, metric or tag: a silence without matchers would mute everything.".into());
        }
        if !batch.is_empty() && !known_batch(batch) {
            return Err(format!("There is no batch named “{batch}”."));
        }
        let (tag_key, tag_value) = if tag.is_empty() {
            (String::new(), String::new())
        } else {
            parse_tag(tag).ok_or_else(|| format!("The tag “{tag}” is not key=value."))?
        };
        let length = parse_duration(duration)
        .filter(|d| *d <= chrono::Duration::days(366))
        .ok_or_else(|| {
            format!(
                "The duration “{duration}” is not one such as 30m, 4h, 1d or 1w (at most a year)."
            )
        })?;
        if metric.len() > 300 || comment.len() > 500 {
            return Err("The metric is limited to 300 characters and the comment to 500.".into());
        }
        let now = Utc::now().naive_utc();
        Ok(NewSilence {
            batch: batch.to_owned(),
            metric: metric.to_owned(),
            tag_key,
            tag_value,
            comment: comment.trim().to_owned(),
            created_by: by.to_owned(),
            starts_at: now,
            ends_at: now + length,
        })
    }
}

/// The first silence in force at `now` that matches the alert.
pub fn silencing<'a>(
    silences: &'a [Silence],
    batch: &str,
    metric: &str,
    tags: &BTreeMap<String, String>,
    now: NaiveDateTime,
) -> Option<&'a Silence> {
    silences
        .iter()
        .find(|s| s.is_active(now) && matches(s, batch, metric, tags))
}

pub fn matches(s: &Silence, batch: &str, metric: &str, tags: &BTreeMap<String, String>) -> bool {
    (s.batch.is_empty() || s.batch == batch)
        && (s.metric.is_empty() || glob(&s.metric, metric))
        && (s.tag_key.is_empty() || tags.get(&s.tag_key).is_some_and(|v| *v == s.tag_value))
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// Reads `key=value` (or `key:value`) from a form.
pub fn parse_tag(text: &str) -> Option<(String, String)> {
    let (k, v) = text.split_once('=').or_else(|| text.split_once(':'))?;
    let (k, v) = (k.trim(), v.trim());
    (!k.is_empty()).then(|| (k.to_owned(), v.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate};

    fn t0() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
    }

    fn silence(batch: &str, metric: &str, tag: Option<(&str, &str)>) -> Silence {
        Silence {
            id: 1,
            batch: batch.into(),
            metric: metric.into(),
            tag_key: tag.map(|t| t.0.into()).unwrap_or_default(),
            tag_value: tag.map(|t| t.1.into()).unwrap_or_default(),
            comment: String::new(),
            created_by: "ops".into(),
            created_at: t0(),
            starts_at: t0(),
            ends_at: t0() + Duration::hours(1),
        }
    }

    #[test]
    fn every_set_matcher_must_match() {
        let tags: BTreeMap<String, String> = [("priority".to_owned(), "p1".to_owned())].into();
        let none = BTreeMap::new();
        assert!(matches(&silence("sales", "", None), "sales", "x", &none));
        assert!(!matches(&silence("sales", "", None), "users", "x", &none));
        assert!(matches(
            &silence("", "cpu_*", None),
            "any",
            "cpu_load",
            &none
        ));
        assert!(!matches(
            &silence("", "cpu_*", None),
            "any",
            "mem_cpu",
            &none
        ));
        assert!(matches(
            &silence("", "", Some(("priority", "p1"))),
            "b",
            "m",
            &tags
        ));
        assert!(!matches(
            &silence("", "", Some(("priority", "p2"))),
            "b",
            "m",
            &tags
        ));
        assert!(!matches(
            &silence("sales", "", Some(("priority", "p1"))),
            "b",
            "m",
            &tags
        ));
    }

    #[test]
    fn only_silences_in_force_mute() {
        let s = vec![silence("b", "", None)];
        let none = BTreeMap::new();
        assert!(silencing(&s, "b", "m", &none, t0()).is_some());
        assert!(silencing(&s, "b", "m", &none, t0() + Duration::hours(1)).is_none());
        assert!(silencing(&s, "b", "m", &none, t0() - Duration::seconds(1)).is_none());
    }

    #[test]
    fn globs_and_tags_parse() {
        assert!(glob("a*c*e", "abcde"));
        assert!(glob("*", ""));
        assert!(!glob("a*a", "a"));
        assert!(glob("exact", "exact"));
        assert_eq!(
            parse_tag(" team = data "),
            Some(("team".into(), "data".into()))
        );
        assert_eq!(
            parse_tag("priority:p1"),
            Some(("priority".into(), "p1".into()))
        );
        assert_eq!(parse_tag("nokey"), None);
    }
}
