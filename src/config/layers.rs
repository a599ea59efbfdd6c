//! The figment providers behind a batch's config: one per YAML file and one per environment
//! override, each carrying its [`Origin`] as figment metadata so that any error figment reports
//! (and the final value of any key) can be traced to the file or variable that set it.

use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider, Source};

use super::env::parse_bool;
use super::error::Origin;
use super::keys::Kind;

/// A mapping of keys from one place.
pub struct Layer {
    pub origin: Origin,
    pub dict: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        metadata_for(&self.origin)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

impl Layer {
    /// One value at a dotted path (`preprocess_params.diff_n` becomes a nested dict).
    pub fn single(origin: Origin, path: &str, value: Value) -> Self {
        let mut parts: Vec<&str> = path.split('.').collect();
        let last = parts.pop().unwrap_or(path);
        let mut dict = Dict::new();
        dict.insert(last.to_owned(), value);
        for part in parts.into_iter().rev() {
            let mut outer = Dict::new();
            outer.insert(part.to_owned(), Value::from(dict));
            dict = outer;
        }
        Layer { origin, dict }
    }
}

pub fn metadata_for(origin: &Origin) -> Metadata {
    match origin {
        Origin::File(path) => Metadata::from("YAML file", path.as_path()),
        Origin::EnvVar(name) => {
            Metadata::from("environment variable", Source::Custom(name.clone()))
        }
        Origin::Builtin => Metadata::named("built-in defaults"),
    }
}

pub fn origin_of(metadata: Option<&Metadata>) -> Origin {
    match metadata.and_then(|m| m.source.as_ref()) {
        Some(Source::File(path)) => Origin::File(path.clone()),
        Some(Source::Custom(name)) => Origin::EnvVar(name.clone()),
        _ => Origin::Builtin,
    }
}

/// Turns an override's text into a value of the key's kind, or says what was expected.
pub fn coerce(raw: &str, kind: Kind) -> Result<Value, String> {
    let trimmed = raw.trim();
    match kind {
        Kind::Bool => parse_bool(trimmed)
            .map(Value::from)
            .ok_or_else(|| format!("expected true/false (or yes/no, 1/0), got {raw:?}")),
        Kind::Int => trimmed
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("expected a whole number, got {raw:?}")),
        Kind::Float => match trimmed.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Value::from(v)),
            _ => Err(format!("expected a number, got {raw:?}")),
        },
        Kind::Text => Ok(Value::from(raw.to_owned())),
        Kind::OptText => {
            if trimmed.is_empty()
                || matches!(trimmed.to_ascii_lowercase().as_str(), "null" | "none" | "~")
            {
                Value::serialize(Option::<String>::None).map_err(|e| e.to_string())
            } else {
                Ok(Value::from(raw.to_owned()))
            }
        }
        Kind::Yaml => {
            let parsed: serde_yaml::Value =
                serde_yaml::from_str(raw).map_err(|e| format!("expected YAML or JSON: {e}"))?;
            Value::serialize(parsed).map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_are_typed_by_kind() {
        assert_eq!(coerce("False", Kind::Bool).unwrap(), Value::from(false));
        assert_eq!(coerce("no", Kind::Bool).unwrap(), Value::from(false));
        assert_eq!(coerce("0", Kind::Bool).unwrap(), Value::from(false));
        assert_eq!(coerce("yes", Kind::Bool).unwrap(), Value::from(true));
        assert_eq!(coerce("42", Kind::Int).unwrap(), Value::from(42i64));
        assert_eq!(coerce("0.95", Kind::Float).unwrap(), Value::from(0.95f64));
        assert!(coerce("NaN", Kind::Float).is_err());
        assert!(coerce("4.5", Kind::Int).is_err());
        assert_eq!(
            coerce("*/1 * * * *", Kind::Text).unwrap(),
            Value::from("*/1 * * * *".to_owned())
        );
        let list = coerce("[a, b]", Kind::Yaml).unwrap();
        assert_eq!(list.into_array().map(|a| a.len()), Some(2));
        let map = coerce(r#"{"m": {"upper": 10}}"#, Kind::Yaml).unwrap();
        assert!(map.into_dict().is_some());
    }

    #[test]
    fn nested_paths_become_nested_dicts() {
        let layer = Layer::single(
            Origin::Builtin,
            "preprocess_params.diff_n",
            Value::from(0i64),
        );
        let inner = layer.dict["preprocess_params"].clone().into_dict().unwrap();
        assert_eq!(inner["diff_n"], Value::from(0i64));
    }
}
