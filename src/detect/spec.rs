//! Detectors as `model_configs` names them. PyOD class names and constructor parameters are
//! accepted so original Anomstack configs work unchanged; parameters that only affect PyOD's
//! labels (`contamination`) or its execution (`n_jobs`, `copy`, ...) are accepted and have no
//! effect here; anything unknown is an error that says what is accepted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::copod::CopodParams;
use super::ecod::EcodParams;
use super::forecast::SeasonalBandParams;
use super::hbos::HbosParams;
use super::iforest::{IForestParams, MaxSamples};
use super::knn::KnnParams;
use super::mad::MadParams;
use super::pca::PcaParams;
use super::zscore::ZScoreParams;

/// A detector and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "params")]
pub enum DetectorSpec {
    #[serde(rename = "PCA")]
    Pca(PcaParams),
    #[serde(rename = "KNN")]
    Knn(KnnParams),
    #[serde(rename = "ECOD")]
    Ecod(EcodParams),
    #[serde(rename = "COPOD")]
    Copod(CopodParams),
    #[serde(rename = "HBOS")]
    Hbos(HbosParams),
    #[serde(rename = "IForest")]
    IForest(IForestParams),
    #[serde(rename = "MAD")]
    Mad(MadParams),
    #[serde(rename = "ZScore")]
    ZScore(ZScoreParams),
    #[serde(rename = "SeasonalBand")]
    SeasonalBand(SeasonalBandParams),
}

/// Names accepted in `model_name`, case-insensitively.
pub const DETECTOR_NAMES: &[&str] = &[
    "PCA",
    "KNN",
    "ECOD",
    "COPOD",
    "HBOS",
    "IForest",
    "MAD",
    "ZScore",
    "SeasonalBand",
];

/// PyOD parameters that change nothing here.
const NO_EFFECT: &[&str] = &["contamination", "n_jobs", "verbose", "copy"];

/// A parameter name, the check of its value, and the accepted value in words.
type FixedParam = (&'static str, fn(&Value) -> bool, &'static str);

struct Rules {
    used: &'static [&'static str],
    no_effect: &'static [&'static str],
    /// Parameters accepted only with the value PyOD defaults to (the only behaviour built).
    fixed: &'static [FixedParam],
}

impl DetectorSpec {
    pub fn name(&self) -> &'static str {
        match self {
            DetectorSpec::Pca(_) => "PCA",
            DetectorSpec::Knn(_) => "KNN",
            DetectorSpec::Ecod(_) => "ECOD",
            DetectorSpec::Copod(_) => "COPOD",
            DetectorSpec::Hbos(_) => "HBOS",
            DetectorSpec::IForest(_) => "IForest",
            DetectorSpec::Mad(_) => "MAD",
            DetectorSpec::ZScore(_) => "ZScore",
            DetectorSpec::SeasonalBand(_) => "SeasonalBand",
        }
    }

    /// Builds a detector from a `model_configs` entry. The error says what is wrong in plain
    /// words; the caller adds which entry it was.
    pub fn from_config(name: &str, params: &BTreeMap<String, Value>) -> Result<Self, String> {
        let Some(canonical) = DETECTOR_NAMES
            .iter()
            .find(|n| n.eq_ignore_ascii_case(name.trim()))
        else {
            return Err(format!(
                "unknown model_name `{name}`; available: {}",
                DETECTOR_NAMES.join(", ")
            ));
        };
        if let Some(c) = params.get("contamination") {
            let ok = c.as_f64().is_some_and(|c| c > 0.0 && c <= 0.5);
            if !ok {
                return Err(format!(
                    "contamination must be a number in (0, 0.5], got {c}"
                ));
            }
        }
        Ok(match *canonical {
            "PCA" => DetectorSpec::Pca(parse(params, &PCA_RULES)?),
            "KNN" => DetectorSpec::Knn(parse(params, &KNN_RULES)?),
            "ECOD" => DetectorSpec::Ecod(parse(params, &EMPTY_RULES)?),
            "COPOD" => DetectorSpec::Copod(parse(params, &EMPTY_RULES)?),
            "HBOS" => DetectorSpec::Hbos(parse(params, &HBOS_RULES)?),
            "IForest" => DetectorSpec::IForest(parse_iforest(params)?),
            "MAD" => DetectorSpec::Mad(parse(params, &MAD_RULES)?),
            "ZScore" => DetectorSpec::ZScore(parse(params, &EMPTY_RULES)?),
            _ => DetectorSpec::SeasonalBand(parse(params, &SEASONAL_RULES)?),
        })
    }
}

fn is_false(v: &Value) -> bool {
    v == &Value::Bool(false)
}
fn is_null(v: &Value) -> bool {
    v.is_null()
}
fn is_euclidean(v: &Value) -> bool {
    matches!(v.as_str(), Some("minkowski" | "euclidean" | "l2"))
}
fn is_two(v: &Value) -> bool {
    v.as_f64() == Some(2.0)
}

static PCA_RULES: Rules = Rules {
    used: &[
        "n_components",
        "n_selected_components",
        "weighted",
        "standardization",
    ],
    no_effect: &["tol", "iterated_power", "random_state", "svd_solver"],
    fixed: &[("whiten", is_false, "false")],
};
static KNN_RULES: Rules = Rules {
    used: &["n_neighbors", "method", "exclude_within", "score_every"],
    no_effect: &["radius", "algorithm", "leaf_size"],
    fixed: &[
        ("metric", is_euclidean, "\"minkowski\" (Euclidean)"),
        ("p", is_two, "2"),
        ("metric_params", is_null, "null"),
    ],
};
static EMPTY_RULES: Rules = Rules {
    used: &[],
    no_effect: &[],
    fixed: &[],
};
static HBOS_RULES: Rules = Rules {
    used: &["n_bins", "alpha", "tol"],
    no_effect: &[],
    fixed: &[],
};
static MAD_RULES: Rules = Rules {
    used: &["threshold"],
    no_effect: &[],
    fixed: &[],
};
static SEASONAL_RULES: Rules = Rules {
    used: &["season_length", "level", "max_season_length"],
    no_effect: &[],
    fixed: &[],
};
static IFOREST_RULES: Rules = Rules {
    used: &[
        "n_estimators",
        "max_samples",
        "max_features",
        "bootstrap",
        "random_state",
    ],
    no_effect: &["behaviour", "warm_start"],
    fixed: &[],
};

/// Splits `params` by the rules and deserializes the used ones into `T`.
fn parse<T: for<'de> Deserialize<'de>>(
    params: &BTreeMap<String, Value>,
    rules: &Rules,
) -> Result<T, String> {
    let used = used_params(params, rules)?;
    serde_json::from_value(Value::Object(used)).map_err(|e| format!("invalid parameter: {e}"))
}

fn used_params(
    params: &BTreeMap<String, Value>,
    rules: &Rules,
) -> Result<Map<String, Value>, String> {
    let mut used = Map::new();
    for (key, value) in params {
        let k = key.as_str();
        if rules.used.contains(&k) {
            used.insert(key.clone(), value.clone());
        } else if NO_EFFECT.contains(&k) || rules.no_effect.contains(&k) {
            continue;
        } else if let Some((_, ok, expected)) = rules.fixed.iter().find(|(name, ..)| *name == k) {
            if !ok(value) {
                return Err(format!(
                    "parameter `{k}` is only supported as {expected}, got {value}"
                ));
            }
        } else {
            let known: Vec<&str> = rules
                .used
                .iter()
                .chain(rules.no_effect)
                .chain(NO_EFFECT)
                .chain(rules.fixed.iter().map(|(n, ..)| n))
                .copied()
                .collect();
            let hint = known
                .iter()
                .map(|n| (strsim::damerau_levenshtein(k, n), *n))
                .filter(|(d, _)| *d <= 2)
                .min_by_key(|(d, _)| *d)
                .map(|(_, n)| format!("; did you mean `{n}`?"))
                .unwrap_or_else(|| {
                    if rules.used.is_empty() {
                        "; this model takes no parameters".to_owned()
                    } else {
                        format!("; accepted: {}", rules.used.join(", "))
                    }
                });
            return Err(format!("unknown parameter `{k}`{hint}"));
        }
    }
    Ok(used)
}

/// IForest takes PyOD's `max_samples="auto"`, `random_state=None` and `max_features` as a
/// fraction or 1.
fn parse_iforest(params: &BTreeMap<String, Value>) -> Result<IForestParams, String> {
    let mut used = used_params(params, &IFOREST_RULES)?;
    let mut out = IForestParams::default();
    if let Some(v) = used.remove("max_samples") {
        out.max_samples = match &v {
            Value::String(s) if s == "auto" => None,
            Value::Number(n) if n.is_u64() => {
                Some(MaxSamples::Count(n.as_u64().unwrap_or(1) as usize))
            }
            Value::Number(n) => Some(MaxSamples::Fraction(n.as_f64().unwrap_or(f64::NAN))),
            other => {
                return Err(format!(
                    "max_samples must be \"auto\", a count or a fraction, got {other}"
                ));
            }
        };
    }
    if let Some(v) = used.remove("random_state")
        && !v.is_null()
    {
        out.random_state = v.as_u64().ok_or_else(|| {
            format!("random_state must be a non-negative integer or null, got {v}")
        })?;
    }
    if let Some(v) = used.remove("max_features") {
        out.max_features = v
            .as_f64()
            .filter(|f| *f > 0.0 && *f <= 1.0)
            .ok_or_else(|| format!("max_features must be a fraction in (0, 1], got {v}"))?;
    }
    if let Some(v) = used.remove("n_estimators") {
        out.n_estimators = v
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("n_estimators must be a positive integer, got {v}"))?
            as usize;
    }
    if let Some(v) = used.remove("bootstrap") {
        out.bootstrap = v
            .as_bool()
            .ok_or_else(|| format!("bootstrap must be true or false, got {v}"))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_original_defaults_parse() {
        let p = params(json!({"contamination": 0.01}));
        assert_eq!(
            DetectorSpec::from_config("PCA", &p).unwrap(),
            DetectorSpec::Pca(PcaParams::default())
        );
        assert_eq!(
            DetectorSpec::from_config("knn", &p).unwrap(),
            DetectorSpec::Knn(KnnParams::default())
        );
    }

    #[test]
    fn pyod_parameters_are_accepted() {
        let knn = DetectorSpec::from_config(
            "KNN",
            &params(json!({"n_neighbors": 10, "method": "mean", "metric": "minkowski", "p": 2, "n_jobs": 1})),
        )
        .unwrap();
        let DetectorSpec::Knn(k) = knn else { panic!() };
        assert_eq!(k.n_neighbors, 10);
        let f = DetectorSpec::from_config(
            "IForest",
            &params(json!({"n_estimators": 50, "max_samples": "auto", "random_state": null})),
        )
        .unwrap();
        let DetectorSpec::IForest(f) = f else {
            panic!()
        };
        assert_eq!(
            (f.n_estimators, f.max_samples, f.random_state),
            (50, None, 42)
        );
    }

    #[test]
    fn unknown_names_and_parameters_say_what_is_accepted() {
        let err = DetectorSpec::from_config("LOF", &BTreeMap::new()).unwrap_err();
        assert!(
            err.contains("unknown model_name `LOF`; available: PCA, KNN"),
            "{err}"
        );
        let err =
            DetectorSpec::from_config("KNN", &params(json!({"n_neighbours": 3}))).unwrap_err();
        assert_eq!(
            err,
            "unknown parameter `n_neighbours`; did you mean `n_neighbors`?"
        );
        let err = DetectorSpec::from_config("KNN", &params(json!({"p": 1}))).unwrap_err();
        assert!(err.contains("`p` is only supported as 2"), "{err}");
        let err =
            DetectorSpec::from_config("KNN", &params(json!({"n_neighbors": "five"}))).unwrap_err();
        assert!(err.starts_with("invalid parameter"), "{err}");
        let err =
            DetectorSpec::from_config("PCA", &params(json!({"contamination": 2}))).unwrap_err();
        assert!(err.contains("contamination"), "{err}");
    }
}
