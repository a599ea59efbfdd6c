-- The key that signs the "useful / not useful" links in alert messages, made on first use
-- (deleting it makes every link already sent invalid), and the links already used: a link
-- gives one verdict once; its nonce is kept until the link would have expired anyway.
CREATE TABLE IF NOT EXISTS link_keys (
    purpose TEXT PRIMARY KEY,
    secret TEXT NOT NULL, -- base64
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS spent_links (
    nonce TEXT PRIMARY KEY,
    spent_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
