//! `anomstack mcp`: the MCP server over stdio, for an assistant on this machine (Claude
//! Desktop, Claude Code, the MCP inspector start it as a child process). It opens the
//! configured database and metrics folder as the other one-off commands do. Stdout is the
//! protocol: everything else (logs, warnings) goes to stderr. Read-only unless `--write`.

use std::process::ExitCode;

use anyhow::Context;
use rmcp::ServiceExt;

use crate::cli::McpArgs;
use crate::config::LiveConfig;
use crate::mcp::AnomstackMcp;

pub async fn mcp(args: McpArgs) -> anyhow::Result<ExitCode> {
    let Some((config, store, _settings)) = super::run::open_for_jobs(args.metrics_dir).await?
    else {
        return Ok(ExitCode::FAILURE);
    };
    let handler = AnomstackMcp::local(store, LiveConfig::fixed(config), args.write);
    tracing::info!(write = args.write, "MCP server on stdio");
    let service = handler
        .serve(rmcp::transport::stdio())
        .await
        .context("cannot start the MCP session on stdio")?;
    service
        .waiting()
        .await
        .context("the MCP session on stdio failed")?;
    Ok(ExitCode::SUCCESS)
}
