//! The LLM the `llmalert` job asks, from the environment: any OpenAI-compatible chat endpoint.

use std::time::Duration;

use super::env::EnvVars;
use super::error::{ConfigError, Origin};
use super::secret::Secret;

#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// `OPENAI_BASE_URL`, or the platform's (`ANOMSTACK_LLM_PLATFORM`: openai, openrouter,
    /// ollama).
    pub base_url: String,
    /// `OPENAI_API_KEY` (ollama needs none).
    pub api_key: Option<Secret>,
    /// `ANOMSTACK_LLMALERT_MODELS`: the models `llmalert_model: random` picks from.
    pub random_models: Vec<String>,
    /// `ANOMSTACK_LLM_TIMEOUT_SECONDS` (default 60) per call.
    pub timeout: Duration,
    /// `ANOMSTACK_LLM_MAX_CALLS` (default 200): calls one run may make.
    pub max_calls: u32,
    /// `ANOMSTACK_LLM_MAX_TOKENS` (default 2,000,000): tokens one run may spend.
    pub max_tokens: u64,
}

pub(super) fn llm(env: &EnvVars) -> Result<Option<LlmSettings>, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let get = |k: &str| env.get(k).map(str::trim).filter(|v| !v.is_empty());
    let platform = get("ANOMSTACK_LLM_PLATFORM").map(str::to_ascii_lowercase);
    let default_url = match platform.as_deref() {
        None | Some("openai") => "https://api.openai.com/v1",
        Some("openrouter") => "https://openrouter.ai/api/v1",
        Some("ollama") => "http://localhost:11434/v1",
        Some(other) => {
            errors.push(ConfigError::new(
                Origin::EnvVar("ANOMSTACK_LLM_PLATFORM".into()),
                None,
                format!("expected openai, openrouter or ollama, got {other:?}"),
            ));
            "https://api.openai.com/v1"
        }
    };
    let api_key = get("OPENAI_API_KEY").map(Secret::new);
    let base_url = get("OPENAI_BASE_URL")
        .or_else(|| {
            (platform.as_deref() == Some("openrouter"))
                .then(|| get("OPENROUTER_BASE_URL"))
                .flatten()
        })
        .unwrap_or(default_url)
        .trim_end_matches('/')
        .to_owned();
    let number = |k: &str, default: u64, errors: &mut Vec<ConfigError>| match get(k) {
        None => default,
        Some(raw) => raw.parse().unwrap_or_else(|_| {
            errors.push(ConfigError::new(
                Origin::EnvVar(k.into()),
                None,
                format!("expected a whole number, got {raw:?}"),
            ));
            default
        }),
    };
    let timeout =
        Duration::from_secs(number("ANOMSTACK_LLM_TIMEOUT_SECONDS", 60, &mut errors).max(1));
    let max_calls = number("ANOMSTACK_LLM_MAX_CALLS", 200, &mut errors) as u32;
    let max_tokens = number("ANOMSTACK_LLM_MAX_TOKENS", 2_000_000, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    // Configured when it can be called: a key, or a local platform that needs none.
    if api_key.is_none()
        && platform.as_deref() != Some("ollama")
        && get("OPENAI_BASE_URL").is_none()
    {
        return Ok(None);
    }
    Ok(Some(LlmSettings {
        base_url,
        api_key,
        random_models: get("ANOMSTACK_LLMALERT_MODELS")
            .map(|m| {
                m.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        timeout,
        max_calls,
        max_tokens,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Option<LlmSettings>, Vec<ConfigError>> {
        llm(&EnvVars::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn platforms_pick_their_url_and_nothing_set_means_no_llm() {
        assert!(read(&[]).unwrap().is_none());
        let o = read(&[("OPENAI_API_KEY", "sk-1")]).unwrap().unwrap();
        assert_eq!(o.base_url, "https://api.openai.com/v1");
        let r = read(&[
            ("OPENAI_API_KEY", "k"),
            ("ANOMSTACK_LLM_PLATFORM", "openrouter"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(r.base_url, "https://openrouter.ai/api/v1");
        let l = read(&[("ANOMSTACK_LLM_PLATFORM", "ollama")])
            .unwrap()
            .unwrap();
        assert_eq!(l.base_url, "http://localhost:11434/v1");
        assert!(l.api_key.is_none());
        let c = read(&[
            ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/"),
            ("ANOMSTACK_LLMALERT_MODELS", "a, b"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.base_url, "http://127.0.0.1:9/v1");
        assert_eq!(c.random_models, ["a", "b"]);
        assert!(read(&[("ANOMSTACK_LLM_PLATFORM", "skynet")]).is_err());
    }
}
