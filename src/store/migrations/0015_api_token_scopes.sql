-- What an API token may do: `read` (the MCP server's read tools) or `write` (also the write
-- API and write tools). Tokens made before scopes could already write, so they stay `write`.
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'write';
