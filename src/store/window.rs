//! How much history a page shows, and the SQL that finds where a window starts.

use std::fmt;
use std::str::FromStr;

use chrono::{Duration, NaiveDateTime};

use crate::timestamp::format_db;

/// How much history a page shows: the newest N points of each metric (`90n`), or everything
/// since a time before now (`24h`, `45m`, `7d`). A plain number means points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    Last(usize),
    Minutes(u32),
    Hours(u32),
    Days(u32),
}

impl Window {
    /// How far back a time window reaches (`None` for a number of points).
    pub fn span(self) -> Option<Duration> {
        match self {
            Window::Last(_) => None,
            Window::Minutes(n) => Some(Duration::minutes(i64::from(n))),
            Window::Hours(n) => Some(Duration::hours(i64::from(n))),
            Window::Days(n) => Some(Duration::days(i64::from(n))),
        }
    }
}

impl Default for Window {
    fn default() -> Self {
        Window::Last(90)
    }
}

/// Points of one metric at most in a window, whatever was asked: bounds every page's work.
pub const MAX_WINDOW_POINTS: usize = 5000;

impl FromStr for Window {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        let bad = || {
            format!(
                "window `{}`: expected a number of points (90n) or a time span (45m, 24h, 7d)",
                text.chars().take(40).collect::<String>()
            )
        };
        let (digits, unit) = match text.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], Some(c.to_ascii_lowercase())),
            Some(_) => (text, None),
            None => return Err(bad()),
        };
        let n: u32 = digits.parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(bad());
        }
        // Ten years back at most: enough for anyone, and no date arithmetic overflows.
        match unit {
            None | Some('n') => Ok(Window::Last((n as usize).min(MAX_WINDOW_POINTS))),
            Some('m') => Ok(Window::Minutes(n.min(60 * 24 * 3650))),
            Some('h') => Ok(Window::Hours(n.min(24 * 3650))),
            Some('d') => Ok(Window::Days(n.min(3650))),
            Some(_) => Err(bad()),
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Last(n) => write!(f, "{n}n"),
            Window::Minutes(n) => write!(f, "{n}m"),
            Window::Hours(n) => write!(f, "{n}h"),
            Window::Days(n) => write!(f, "{n}d"),
        }
    }
}

/// The per-metric expression of the window's first timestamp (`n` is the metric name
/// column). A time window also stops at the metric's `MAX_WINDOW_POINTS`-th newest point, so
/// `3650d` on a dense metric reads no more than `5000n` would.
pub(super) fn since_sql(table: &str, window: Window, now: NaiveDateTime) -> String {
    let newest = |n: usize| {
        format!(
            "coalesce((SELECT s.metric_timestamp FROM {table} AS s
                WHERE s.metric_batch = ?1 AND s.metric_type = 'metric' AND s.metric_name = n
                ORDER BY s.metric_timestamp DESC LIMIT 1 OFFSET {}), '')",
            n.max(1) - 1
        )
    };
    match (window, window.span()) {
        (Window::Last(n), _) => newest(n),
        (_, Some(span)) => format!(
            "max('{}', {})",
            format_db(now - span),
            newest(MAX_WINDOW_POINTS)
        ),
        (_, None) => newest(MAX_WINDOW_POINTS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_as_the_original_wrote_them() {
        assert_eq!("90n".parse(), Ok(Window::Last(90)));
        assert_eq!("90".parse(), Ok(Window::Last(90)));
        assert_eq!("24h".parse(), Ok(Window::Hours(24)));
        assert_eq!("45M".parse(), Ok(Window::Minutes(45)));
        assert_eq!("7d".parse(), Ok(Window::Days(7)));
        assert_eq!(Window::Days(7).span(), Some(Duration::days(7)));
        assert_eq!("999999n".parse(), Ok(Window::Last(MAX_WINDOW_POINTS)));
        for bad in [
            "",
            "n",
            "0n",
            "5x",
            "-3h",
            "1.5h",
            "h24",
            "9999999999999999h",
        ] {
            assert!(bad.parse::<Window>().is_err(), "{bad}");
        }
        for w in ["90n", "24h", "45m", "7d"] {
            assert_eq!(w.parse::<Window>().unwrap().to_string(), w);
        }
    }
}
