//! A visitor's view settings (window, search, chart size, columns, markers, legend, line
//! width, theme), carried in the query string: they belong to whoever holds the link, never
//! to the server, and a shared link shows the same view.

use regex::{Regex, RegexBuilder};
use serde::Deserialize;

use crate::charts::ChartStyle;
use crate::store::Window;

/// The query string as sent; every field optional and read leniently.
#[derive(Debug, Default, Deserialize)]
pub struct ViewQuery {
    pub window: Option<String>,
    pub search: Option<String>,
    pub size: Option<String>,
    pub columns: Option<String>,
    pub markers: Option<String>,
    pub legend: Option<String>,
    pub line: Option<String>,
    pub theme: Option<String>,
    /// `refresh=1`: recompute the figures instead of using the few-seconds cache.
    pub refresh: Option<String>,
}

/// Settings after parsing, with what could not be understood.
#[derive(Debug, Clone)]
pub struct View {
    pub window: Window,
    /// The window as typed, when it was not understood (the default window is used).
    pub window_error: Option<String>,
    pub search: String,
    pub search_error: Option<String>,
    pub large: bool,
    pub one_column: bool,
    pub markers: bool,
    pub legend: bool,
    pub thin: bool,
    pub dark: bool,
    /// Skip the figures cache (not carried in links).
    pub fresh: bool,
}

/// Search patterns longer than this are refused: a regex is compiled per request.
const MAX_SEARCH: usize = 200;

impl View {
    pub fn from_query(q: &ViewQuery) -> Self {
        let (window, window_error) = match q.window.as_deref().map(str::trim) {
            None | Some("") => (Window::default(), None),
            Some(raw) => match raw.parse::<Window>() {
                Ok(w) => (w, None),
                Err(e) => (Window::default(), Some(e)),
            },
        };
        let search = q.search.clone().unwrap_or_default();
        let search_error = matcher(&search).err();
        let on = |v: &Option<String>, default: bool| match v.as_deref() {
            Some("on" | "1" | "true" | "yes") => true,
            Some("off" | "0" | "false" | "no") => false,
            _ => default,
        };
        Self {
            window,
            window_error,
            search,
            search_error,
            large: q.size.as_deref() == Some("large"),
            one_column: q.columns.as_deref() == Some("1"),
            markers: on(&q.markers, true),
            legend: on(&q.legend, true),
            thin: q.line.as_deref() == Some("1"),
            dark: q.theme.as_deref() == Some("dark"),
            fresh: q.refresh.is_some(),
        }
    }

    pub fn chart_style(&self) -> ChartStyle {
        ChartStyle {
            large: self.large,
            markers: self.markers,
            legend: self.legend,
            line_width: if self.thin { 1 } else { 2 },
        }
    }

    /// The metric-name filter: case-insensitive regex; `None` matches everything.
    pub fn matcher(&self) -> Option<Regex> {
        matcher(&self.search).ok().flatten()
    }

    /// The settings as query pairs, defaults left out, so links stay short.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.window != Window::default() {
            out.push(("window", self.window.to_string()));
        }
        if !self.search.is_empty() {
            out.push(("search", self.search.clone()));
        }
        if self.large {
            out.push(("size", "large".into()));
        }
        if self.one_column {
            out.push(("columns", "1".into()));
        }
        if !self.markers {
            out.push(("markers", "off".into()));
        }
        if !self.legend {
            out.push(("legend", "off".into()));
        }
        if self.thin {
            out.push(("line", "1".into()));
        }
        if self.dark {
            out.push(("theme", "dark".into()));
        }
        out
    }

    /// `?…` for these settings plus `extra` pairs (empty string when there is nothing).
    pub fn query(&self, extra: &[(&'static str, String)]) -> String {
        let mut pairs = self.pairs();
        pairs.extend(extra.iter().cloned());
        if pairs.is_empty() {
            return String::new();
        }
        format!(
            "?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    }

    /// The settings with one changed, as a query string: what a toggle links to.
    pub fn toggled(&self, change: impl FnOnce(&mut View)) -> String {
        let mut next = self.clone();
        change(&mut next);
        next.query(&[])
    }
}

fn matcher(search: &str) -> Result<Option<Regex>, String> {
    let pattern = search.trim();
    if pattern.is_empty() {
        return Ok(None);
    }
    if pattern.len() > MAX_SEARCH {
        return Err(format!(
            "Invalid search pattern: longer than {MAX_SEARCH} characters"
        ));
    }
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
        .map(Some)
        .map_err(|e| {
            let first = e.to_string().lines().last().unwrap_or_default().to_owned();
            format!(
                "Invalid search pattern: {}",
                first.trim_start_matches("error: ")
            )
        })
}

pub use crate::http::path_segment as segment;

#[cfg(test)]
mod tests {
    use super::*;

    fn view(qs: &str) -> View {
        View::from_query(&serde_urlencoded::from_str(qs).unwrap())
    }

    #[test]
    fn settings_round_trip_through_the_query_string() {
        let v = view(
            "window=24h&search=cpu&size=large&columns=1&markers=off&legend=off&line=1&theme=dark",
        );
        assert_eq!(v.window, Window::Hours(24));
        assert!(v.large && v.one_column && !v.markers && !v.legend && v.thin && v.dark);
        assert!(view("").legend, "the legend shows unless turned off");
        let again = view(v.query(&[]).trim_start_matches('?'));
        assert_eq!(again.pairs(), v.pairs());
        assert_eq!(view("").query(&[]), "");
        assert!(view("").toggled(|v| v.dark = true).contains("theme=dark"));
    }

    #[test]
    fn bad_windows_and_patterns_are_reported_not_fatal() {
        let v = view("window=abc&search=%28unclosed");
        assert_eq!(v.window, Window::default());
        assert!(v.window_error.as_deref().unwrap().contains("abc"));
        assert!(
            v.search_error
                .as_deref()
                .unwrap()
                .starts_with("Invalid search pattern")
        );
        assert!(v.matcher().is_none());
        let v = view("search=CPU.%2A");
        assert!(v.matcher().unwrap().is_match("host_cpu_user"));
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("a/b c?<"), "a%2Fb%20c%3F%3C");
        assert_eq!(segment("ok_name-1.2"), "ok_name-1.2");
        assert_eq!(segment("é"), "%C3%A9");
    }
}
