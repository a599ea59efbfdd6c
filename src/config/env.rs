//! A snapshot of the process environment. Configuration code reads this map instead of
//! `std::env`, so tests pass their own variables without touching (racy) process state.

use std::collections::BTreeMap;
use std::path::Path;

use super::dotenv;
use super::error::{ConfigError, ConfigErrors, Origin};

#[derive(Debug, Clone, Default)]
pub struct EnvVars(BTreeMap<String, String>);

impl EnvVars {
    /// Every variable of this process. A non-UTF-8 value of an `ANOMSTACK` variable is an error
    /// (we could not use it); other variables that are not UTF-8 are none of our business.
    pub fn from_process() -> Result<Self, ConfigError> {
        let mut map = BTreeMap::new();
        for (key, value) in std::env::vars_os() {
            let Some(key) = key.to_str().map(str::to_owned) else {
                continue;
            };
            match value.into_string() {
                Ok(value) => {
                    map.insert(key, value);
                }
                Err(_) if key.starts_with("ANOMSTACK") => {
                    return Err(ConfigError::new(
                        Origin::EnvVar(key),
                        None,
                        "value is not valid UTF-8",
                    ));
                }
                Err(_) => {}
            }
        }
        Ok(Self(map))
    }

    /// The process environment, plus variables from a `.env` file that the environment does
    /// not already set. A missing file is fine; a malformed line is an error naming it.
    pub fn from_process_and_file(path: &Path) -> Result<Self, ConfigErrors> {
        let mut env = Self::from_process()?;
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(env),
            Err(e) => {
                return Err(ConfigError::new(
                    Origin::File(path.to_path_buf()),
                    None,
                    format!("cannot read file: {e}"),
                )
                .into());
            }
        };
        match dotenv::parse(&text) {
            Ok(pairs) => {
                for (key, value) in pairs {
                    env.0.entry(key).or_insert(value);
                }
                Ok(env)
            }
            Err(lines) => Err(ConfigErrors(
                lines
                    .into_iter()
                    .map(|(n, reason)| {
                        ConfigError::new(
                            Origin::File(path.to_path_buf()),
                            None,
                            format!("line {n}: {reason}"),
                        )
                    })
                    .collect(),
            )),
        }
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// The value of `key`, treating an empty value as unset (as `.env` files leave them).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Booleans as people write them in env files: true/false, yes/no, on/off, 1/0, any case.
pub fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "on" | "1" => Some(true),
        "false" | "no" | "n" | "off" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_accept_the_usual_spellings() {
        for t in ["true", "True", "TRUE", "yes", "Y", "on", "1", " 1 "] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["false", "False", "no", "NO", "n", "off", "0"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(parse_bool(""), None);
    }

    #[test]
    fn empty_values_count_as_unset() {
        let env = EnvVars::from_pairs([("A", ""), ("B", "x")]);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.get("B"), Some("x"));
    }
}
