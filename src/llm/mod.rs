//! Asking an OpenAI-compatible chat endpoint (OpenAI, OpenRouter, Ollama, ...) which points of a
//! series are anomalous: prompts, the HTTP call with structured output, lenient parsing, and a
//! per-run budget of calls and tokens. It never alerts itself: the `llmalert` job decides.

pub mod parse;
pub mod prompt;

use std::sync::Mutex;

use serde_json::{Value, json};

use crate::config::LlmSettings;
use parse::Flag;

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the LLM call failed: {0}")]
    Call(String),
    #[error("the LLM answered HTTP {status}: {detail}")]
    Status { status: u16, detail: String },
    #[error("the LLM answer could not be read: {0}")]
    Answer(String),
    #[error("the run's LLM budget is spent ({0})")]
    Budget(String),
}

/// Calls and tokens one run may still spend.
pub struct Budget {
    left: Mutex<(u32, u64)>,
}

impl Budget {
    pub fn new(settings: &LlmSettings) -> Self {
        Self {
            left: Mutex::new((settings.max_calls, settings.max_tokens)),
        }
    }

    fn take_call(&self) -> Result<(), LlmError> {
        let mut left = self
            .left
            .lock()
            .map_err(|_| LlmError::Budget("unavailable".into()))?;
        if left.0 == 0 {
            return Err(LlmError::Budget("no calls left".into()));
        }
        if left.1 == 0 {
            return Err(LlmError::Budget("no tokens left".into()));
        }
        left.0 -= 1;
        Ok(())
    }

    fn spend_tokens(&self, n: u64) {
        if let Ok(mut left) = self.left.lock() {
            left.1 = left.1.saturating_sub(n);
        }
    }
}

pub struct LlmClient {
    settings: LlmSettings,
    http: reqwest::Client,
}

impl LlmClient {
    pub fn new(settings: LlmSettings) -> Result<Self, LlmError> {
        let http =
            crate::http::client(settings.timeout).map_err(|e| LlmError::Call(e.to_string()))?;
        Ok(Self { settings, http })
    }

    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// The model to use: the batch's, or a pick from `ANOMSTACK_LLMALERT_MODELS` for `random`.
    pub fn model(&self, configured: &str, pick: u64) -> Result<String, LlmError> {
        if configured != "random" {
            return Ok(configured.to_owned());
        }
        let models = &self.settings.random_models;
        if models.is_empty() {
            return Err(LlmError::Call(
                "llmalert_model is `random` but ANOMSTACK_LLMALERT_MODELS lists no models".into(),
            ));
        }
        Ok(models[(pick % models.len() as u64) as usize].clone())
    }

    /// One chat completion asking for the anomaly list; `chart_png` goes along as an image.
    pub async fn ask(
        &self,
        budget: &Budget,
        model: &str,
        system: &str,
        user: &str,
        chart_png: Option<&[u8]>,
    ) -> Result<Vec<Flag>, LlmError> {
        budget.take_call()?;
        let body = json!({
            "model": model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": prompt::user_content(user.to_owned(), chart_png)}
            ],
            "response_format": prompt::response_format(),
        });
        let mut req = self
            .http
            .post(format!("{}/chat/completions", self.settings.base_url))
            .json(&body);
        if let Some(key) = &self.settings.api_key {
            req = req.bearer_auth(key.expose());
        }
        let response = req
            .send()
            .await
            .map_err(|e| LlmError::Call(crate::http::without_url(&e)))?;
        let status = response.status();
        let answer: Value = response.json().await.map_err(|_| LlmError::Status {
            status: status.as_u16(),
            detail: "not JSON".into(),
        })?;
        if !status.is_success() {
            let detail = answer["error"]["message"]
                .as_str()
                .unwrap_or("no detail")
                .chars()
                .take(200)
                .collect();
            return Err(LlmError::Status {
                status: status.as_u16(),
                detail,
            });
        }
        budget.spend_tokens(answer["usage"]["total_tokens"].as_u64().unwrap_or(0));
        let content = answer["choices"][0]["message"]["content"]
            .as_str()
            .ok_or_else(|| LlmError::Answer("no message content".into()))?;
        parse::anomalies(content).map_err(LlmError::Answer)
    }
}
