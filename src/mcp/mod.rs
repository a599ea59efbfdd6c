//! The MCP (Model Context Protocol) server: lets an AI assistant investigate anomalies with
//! the same data the dashboard shows. One handler, [`AnomstackMcp`], serves two transports:
//! stdio (`anomstack mcp`, local, read-only unless `--write`) and streamable HTTP at `/mcp`
//! (`web/mcp.rs`, behind an API token whose scope decides what the caller may do).
//!
//! Layout: `catalog.rs` names and describes the tools with their JSON schemas; `tools.rs`
//! (lists and series), `explain.rs` and `backtest.rs` are the read tools, `write.rs` the
//! write tools: plain async functions over [`Store`] and [`Config`] returning JSON, tested
//! without the protocol. This file only checks access and turns answers into MCP results.

mod args;
pub mod backtest;
pub mod catalog;
pub mod explain;
pub mod incidents;
pub mod tools;
pub mod write;

use std::sync::Arc;

use chrono::Utc;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorCode,
    Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::config::{Config, LiveConfig};
use crate::store::{Store, StoreError, TokenScope, TokenUse};

/// Why a tool gave no answer. Bad input and missing data are told to the assistant (as a
/// tool error it can act on); our own failures are logged and told in general terms.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The MCP handler. Over HTTP each request carries its caller (the [`TokenUse`] that
/// `web/mcp.rs` put in the request's extensions after checking the token); over stdio there
/// is no request, and `local` is the caller.
#[derive(Clone)]
pub struct AnomstackMcp {
    store: Store,
    config: Arc<LiveConfig>,
    local: TokenUse,
}

const INSTRUCTIONS: &str = "anomstack detects anomalies in business metrics. Metrics belong to batches; each point has a value and an anomaly score (0-1); a point whose smoothed score reaches the alert threshold alerts (kind `ml`); change, threshold and LLM detectors flag points too. Start with list_incidents, list_anomalies or list_batches, then read_series and explain_anomaly for one metric; backtest_metric shows what another threshold would have done. Times are ISO-8601 UTC.";

impl AnomstackMcp {
    /// The handler for stdio: the caller is the local user, allowed to write with `write`.
    pub fn local(store: Store, config: Arc<LiveConfig>, write: bool) -> Self {
        let scope = if write {
            TokenScope::Write
        } else {
            TokenScope::Read
        };
        Self {
            store,
            config,
            local: TokenUse {
                name: "mcp-stdio".into(),
                scope,
            },
        }
    }

    /// The handler for HTTP: callers come with their requests; one without (which the token
    /// check never lets through) may only read.
    pub fn for_http(store: Store, config: Arc<LiveConfig>) -> Self {
        Self {
            store,
            config,
            local: TokenUse {
                name: "unknown".into(),
                scope: TokenScope::Read,
            },
        }
    }

    fn caller(&self, context: &RequestContext<RoleServer>) -> TokenUse {
        context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<TokenUse>())
            .cloned()
            .unwrap_or_else(|| self.local.clone())
    }

    /// Runs tool `name` for `caller`; the tool is known and allowed.
    async fn run(
        &self,
        name: &str,
        arguments: Option<serde_json::Map<String, Value>>,
        caller: &TokenUse,
    ) -> Result<Value, ToolError> {
        let config: Arc<Config> = self.config.current();
        let (store, now) = (&self.store, Utc::now().naive_utc());
        match name {
            "list_batches" => tools::list_batches(store, &config, now).await,
            "list_metrics" => {
                tools::list_metrics(store, &config, args::parse_args(name, arguments)?, now).await
            }
            "read_series" => {
                tools::read_series(store, &config, args::parse_args(name, arguments)?, now).await
            }
            "list_anomalies" => {
                tools::list_anomalies(store, &config, args::parse_args(name, arguments)?, now).await
            }
            "explain_anomaly" => {
                explain::explain_anomaly(store, &config, args::parse_args(name, arguments)?, now)
                    .await
            }
            "backtest_metric" => {
                backtest::backtest_metric(store, &config, args::parse_args(name, arguments)?, now)
                    .await
            }
            "give_feedback" => {
                write::give_feedback(store, &config, args::parse_args(name, arguments)?, now).await
            }
            "add_silence" => {
                let by = format!("token:{}", caller.name);
                write::add_silence(store, &config, args::parse_args(name, arguments)?, &by, now)
                    .await
            }
            "list_incidents" => {
                incidents::list_incidents(store, args::parse_args(name, arguments)?).await
            }
            "acknowledge_incident" | "resolve_incident" => {
                let to = if name == "resolve_incident" {
                    crate::incident::State::Resolved
                } else {
                    crate::incident::State::Acknowledged
                };
                let by = format!("MCP client (token {})", caller.name);
                incidents::move_incident(store, args::parse_args(name, arguments)?, to, &by, now)
                    .await
            }
            other => Err(ToolError::BadInput(format!("no tool named `{other}`"))),
        }
    }
}

impl ServerHandler for AnomstackMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("anomstack", crate::version::VERSION))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = self.caller(&context);
        Ok(ListToolsResult::with_all_items(catalog::listed(
            caller.scope.can_write(),
        )))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = self.caller(&context);
        let name = request.name.as_ref();
        let Some(spec) = catalog::find(name) else {
            return Err(ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("no tool named `{name}` (tools/list names them)"),
                None,
            ));
        };
        if spec.writes && !caller.scope.can_write() {
            return Err(ErrorData::new(
                ErrorCode::INVALID_REQUEST,
                format!(
                    "`{name}` changes data and needs a write-scoped token (this one may only read; over stdio, start `anomstack mcp --write`)"
                ),
                None,
            ));
        }
        let result = match self.run(name, request.arguments, &caller).await {
            Ok(answer) => CallToolResult::success(vec![ContentBlock::text(answer.to_string())]),
            Err(ToolError::Store(e)) => {
                tracing::error!(tool = name, caller = caller.name, "MCP tool failed: {e}");
                CallToolResult::error(vec![ContentBlock::text(format!(
                    "`{name}` failed reading the database; the server log has the details"
                ))])
            }
            Err(e) => CallToolResult::error(vec![ContentBlock::text(e.to_string())]),
        };
        if spec.writes {
            tracing::info!(tool = name, caller = caller.name, "MCP write tool called");
        }
        Ok(result.into())
    }
}
