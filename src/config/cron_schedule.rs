//! Cron strings as Anomstack users write them: five POSIX fields (`*/5 * * * *`, Monday is 1),
//! optionally a leading seconds field, or an alias such as `@hourly`. Parsed once at load so a
//! bad schedule is a config error, not a scheduler surprise. Times are UTC.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use croner::Cron;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone)]
pub struct CronSchedule {
    expr: String,
    cron: Cron,
}

impl CronSchedule {
    pub fn parse(expr: &str) -> Result<Self, String> {
        let trimmed = expr.trim();
        if trimmed.is_empty() {
            return Err("empty cron expression".into());
        }
        let cron = Cron::from_str(trimmed).map_err(|e| {
            format!(
                "invalid cron expression `{trimmed}`: {e} (expected 5 fields like `*/5 * * * *`)"
            )
        })?;
        Ok(Self {
            expr: trimmed.to_owned(),
            cron,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.expr
    }

    /// The first matching time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after, false).ok()
    }

    /// A human description such as "Every 5 minutes", for the admin panel.
    pub fn describe(&self) -> String {
        self.cron.describe()
    }
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSchedule({:?})", self.expr)
    }
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr
    }
}

impl Serialize for CronSchedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.expr)
    }
}

impl<'de> Deserialize<'de> for CronSchedule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        CronSchedule::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap()
    }

    #[test]
    fn five_field_expressions_are_accepted_as_written() {
        let c = CronSchedule::parse("*/5 * * * *").unwrap();
        assert_eq!(
            c.next_after(at(2026, 1, 1, 10, 2)),
            Some(at(2026, 1, 1, 10, 5))
        );
        assert_eq!(
            c.next_after(at(2026, 1, 1, 10, 5)),
            Some(at(2026, 1, 1, 10, 10))
        );
    }

    #[test]
    fn weekdays_follow_posix_where_one_is_monday() {
        // 2026-01-01 is a Thursday; the next Monday is the 5th.
        let c = CronSchedule::parse("0 9 * * 1").unwrap();
        assert_eq!(
            c.next_after(at(2026, 1, 1, 0, 0)),
            Some(at(2026, 1, 5, 9, 0))
        );
    }

    #[test]
    fn aliases_work() {
        let c = CronSchedule::parse("@hourly").unwrap();
        assert_eq!(
            c.next_after(at(2026, 1, 1, 10, 2)),
            Some(at(2026, 1, 1, 11, 0))
        );
    }

    #[test]
    fn bad_expressions_are_rejected_with_the_text() {
        let err = CronSchedule::parse("*/5 * * *").unwrap_err();
        assert!(err.contains("`*/5 * * *`"), "{err}");
        assert!(CronSchedule::parse("61 * * * *").is_err());
        assert!(CronSchedule::parse("").is_err());
    }
}
