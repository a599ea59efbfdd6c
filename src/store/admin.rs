//! The admin panel's tables: sessions, schedule overrides, silences and API tokens. Secrets
//! (session ids, tokens) arrive here already digested; this module never sees them in clear.

use std::collections::HashMap;

use chrono::NaiveDateTime;

use super::Store;
use super::error::{SqlContext, StoreError};
use super::row::{columns, first_id, text, wide};
use crate::timestamp::{format_db, parse_lenient};

/// A logged-in operator's session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub username: String,
    pub csrf_token: String,
    pub created_at: NaiveDateTime,
    pub last_seen: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    /// Digest of the credentials it was opened with.
    pub credential: String,
}

/// A silence as stored. Empty matchers match everything.
#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub id: i64,
    pub batch: String,
    pub metric: String,
    pub tag_key: String,
    pub tag_value: String,
    pub comment: String,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
}

impl Silence {
    pub fn is_active(&self, now: NaiveDateTime) -> bool {
        self.starts_at <= now && now < self.ends_at
    }
}

/// A silence to create.
#[derive(Debug, Clone, Default)]
pub struct NewSilence {
    pub batch: String,
    pub metric: String,
    pub tag_key: String,
    pub tag_value: String,
    pub comment: String,
    pub created_by: String,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
}

/// What an API token may do. A read token answers questions (the MCP server's read tools);
/// only a write token may change anything (the write API, the MCP write tools).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenScope {
    #[default]
    Read,
    Write,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
        }
    }

    /// `read` or `write`; anything else is not a scope.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "read" => Some(TokenScope::Read),
            "write" => Some(TokenScope::Write),
            _ => None,
        }
    }

    pub fn can_write(self) -> bool {
        self == TokenScope::Write
    }
}

/// A live token that was just used: who it names and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUse {
    pub name: String,
    pub scope: TokenScope,
}

/// An API token's public facts (the token itself is only shown once, at creation).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub scope: TokenScope,
    /// The first characters of the token, so an operator can tell tokens apart.
    pub prefix: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

fn ts(value: libsql::Value) -> Option<NaiveDateTime> {
    text(value).and_then(|s| parse_lenient(&s))
}

impl Store {
    pub async fn create_session(
        &self,
        digest: &str,
        record: &SessionRecord,
        client: &str,
    ) -> Result<(), StoreError> {
        let conn = self.connect().await?;
        conn.execute(
            "INSERT INTO admin_sessions (id_digest, username, csrf_token, created_at, last_seen, expires_at, client, credential)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            libsql::params![
                digest,
                record.username.as_str(),
                record.csrf_token.as_str(),
                format_db(record.created_at),
                format_db(record.last_seen),
                format_db(record.expires_at),
                client,
                record.credential.as_str()
            ],
        )
        .await
        .context("cannot create a session")?;
        Ok(())
    }

    pub async fn session(&self, digest: &str) -> Result<Option<SessionRecord>, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot read a session";
        // Requests of one browser may reach any machine: an embedded replica asks its primary
        // (a statement that writes is run there), so a login or a logout on another machine
        // counts at once, not at the next sync.
        // While the primary is away, the replica's copy is the best answer there is.
        const LOCAL: &str = "SELECT username, csrf_token, created_at, last_seen, expires_at, credential FROM admin_sessions WHERE id_digest = ?1";
        const ON_PRIMARY: &str =
            "UPDATE admin_sessions SET last_seen = last_seen WHERE id_digest = ?1
             RETURNING username, csrf_token, created_at, last_seen, expires_at, credential";
        let mut rows = match conn
            .query(
                if self.inner.replica {
                    ON_PRIMARY
                } else {
                    LOCAL
                },
                [digest],
            )
            .await
            .context(ctx)
        {
            Err(e) if self.inner.replica && e.is_unavailable() => {
                conn.query(LOCAL, [digest]).await.context(ctx)?
            }
            rows => rows?,
        };
        let Some(row) = rows.next().await.context(ctx)? else {
            return Ok(None);
        };
        let mut v = columns(&row, 6, ctx)?.into_iter();
        let mut next = || v.next().unwrap_or(libsql::Value::Null);
        let (username, csrf_token) = (
            text(next()).unwrap_or_default(),
            text(next()).unwrap_or_default(),
        );
        let (created, seen, expires) = (ts(next()), ts(next()), ts(next()));
        let credential = text(next()).unwrap_or_default();
        Ok(match (created, seen, expires) {
            (Some(created_at), Some(last_seen), Some(expires_at)) => Some(SessionRecord {
                username,
                csrf_token,
                created_at,
                last_seen,
                expires_at,
                credential,
            }),
            // An unreadable row is no session.
            _ => None,
        })
    }

    pub async fn touch_session(&self, digest: &str, now: NaiveDateTime) -> Result<(), StoreError> {
        let conn = self.connect().await?;
        conn.execute(
            "UPDATE admin_sessions SET last_seen = ?2 WHERE id_digest = ?1",
            libsql::params![digest, format_db(now)],
        )
        .await
        .context("cannot refresh a session")?;
        Ok(())
    }

    pub async fn delete_session(&self, digest: &str) -> Result<(), StoreError> {
        let conn = self.connect().await?;
        conn.execute("DELETE FROM admin_sessions WHERE id_digest = ?1", [digest])
            .await
            .context("cannot end a session")?;
        Ok(())
    }

    /// Remembers a browser `username` logged in from (by its id's digest), and forgets those
    /// unused since `unused_before`.
    pub async fn remember_device(
        &self,
        digest: &str,
        username: &str,
        now: NaiveDateTime,
        unused_before: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let conn = self.connect().await?;
        conn.execute(
            "DELETE FROM admin_devices WHERE last_used < ?1",
            [format_db(unused_before)],
        )
        .await
        .context("cannot forget old admin devices")?;
        conn.execute(
            "INSERT INTO admin_devices (id_digest, username, created_at, last_used) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT (id_digest) DO UPDATE SET last_used = excluded.last_used",
            libsql::params![digest, username, format_db(now)],
        )
        .await
        .context("cannot remember an admin device")?;
        Ok(())
    }

    /// Whether `username` logged in from the browser whose id has `digest`, since
    /// `used_since`.
    pub async fn known_device(
        &self,
        digest: &str,
        username: &str,
        used_since: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let conn = self.connect().await?;
        let mut rows = conn
            .query(
                "SELECT 1 FROM admin_devices WHERE id_digest = ?1 AND username = ?2 AND last_used >= ?3",
                libsql::params![digest, username, format_db(used_since)],
            )
            .await
            .context("cannot look up an admin device")?;
        Ok(rows
            .next()
            .await
            .context("cannot look up an admin device")?
            .is_some())
    }

    /// Drops sessions past their absolute expiry or idle since `idle_before`.
    pub async fn delete_expired_sessions(
        &self,
        now: NaiveDateTime,
        idle_before: NaiveDateTime,
    ) -> Result<u64, StoreError> {
        let conn = self.connect().await?;
        conn.execute(
            "DELETE FROM admin_sessions WHERE expires_at <= ?1 OR last_seen < ?2",
            libsql::params![format_db(now), format_db(idle_before)],
        )
        .await
        .context("cannot drop expired sessions")
    }

    /// Operators' schedule choices by (batch, job): `true` runs, `false` stops.
    pub async fn schedule_overrides(&self) -> Result<HashMap<(String, String), bool>, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot read schedule overrides";
        let mut rows = conn
            .query("SELECT batch, job, enabled FROM schedule_overrides", ())
            .await
            .context(ctx)?;
        let mut out = HashMap::new();
        while let Some(row) = rows.next().await.context(ctx)? {
            let mut v = columns(&row, 3, ctx)?.into_iter();
            let mut next = || v.next().unwrap_or(libsql::Value::Null);
            if let (Some(batch), Some(job), enabled) = (text(next()), text(next()), wide(&next())) {
                out.insert((batch, job), enabled != 0);
            }
        }
        Ok(out)
    }

    /// Sets (or with `None` clears, back to the config's default) a job's schedule.
    pub async fn set_schedule_override(
        &self,
        batch: &str,
        job: &str,
        enabled: Option<bool>,
        by: &str,
        now: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let conn = self.connect().await?;
        let ctx = format!("cannot change the schedule of {job} for `{batch}`");
        match enabled {
            Some(enabled) => conn
                .execute(
                    "INSERT INTO schedule_overrides (batch, job, enabled, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (batch, job) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                    libsql::params![batch, job, i64::from(enabled), format_db(now), by],
                )
                .await
                .context(ctx)?,
            None => conn
                .execute(
                    "DELETE FROM schedule_overrides WHERE batch = ?1 AND job = ?2",
                    libsql::params![batch, job],
                )
                .await
                .context(ctx)?,
        };
        Ok(())
    }

    pub async fn create_silence(&self, s: &NewSilence) -> Result<i64, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot create a silence";
        let mut rows = conn
            .query(
                "INSERT INTO silences (batch, metric, tag_key, tag_value, comment, created_by, created_at, starts_at, ends_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8) RETURNING id",
                libsql::params![
                    s.batch.as_str(),
                    s.metric.as_str(),
                    s.tag_key.as_str(),
                    s.tag_value.as_str(),
                    s.comment.as_str(),
                    s.created_by.as_str(),
                    format_db(s.starts_at),
                    format_db(s.ends_at)
                ],
            )
            .await
            .context(ctx)?;
        // RETURNING always yields the new row's id.
        Ok(first_id(&mut rows, ctx).await?.unwrap_or(0))
    }

    /// Silences still in force at `now` (and, with `include_ended`, the ended ones too),
    /// newest first.
    pub async fn silences(
        &self,
        now: NaiveDateTime,
        include_ended: bool,
    ) -> Result<Vec<Silence>, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot read silences";
        let mut rows = conn
            .query(
                "SELECT id, batch, metric, tag_key, tag_value, comment, created_by, created_at, starts_at, ends_at
                 FROM silences WHERE ?2 OR ends_at > ?1 ORDER BY id DESC LIMIT 500",
                libsql::params![format_db(now), include_ended],
            )
            .await
            .context(ctx)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.context(ctx)? {
            let mut v = columns(&row, 10, ctx)?.into_iter();
            let mut next = || v.next().unwrap_or(libsql::Value::Null);
            let id = wide(&next()) as i64;
            let mut s = || text(next()).unwrap_or_default();
            let (batch, metric, tag_key, tag_value, comment, created_by) =
                (s(), s(), s(), s(), s(), s());
            let (created, starts, ends) = (ts(next()), ts(next()), ts(next()));
            if let (Some(created_at), Some(starts_at), Some(ends_at)) = (created, starts, ends) {
                out.push(Silence {
                    id,
                    batch,
                    metric,
                    tag_key,
                    tag_value,
                    comment,
                    created_by,
                    created_at,
                    starts_at,
                    ends_at,
                });
            }
        }
        Ok(out)
    }

    /// Ends a silence now; whether one was still in force.
    pub async fn expire_silence(&self, id: i64, now: NaiveDateTime) -> Result<bool, StoreError> {
        let n = self
            .changed(
                "UPDATE silences SET ends_at = ?2 WHERE id = ?1 AND ends_at > ?2",
                libsql::params![id, format_db(now)],
                "cannot expire a silence",
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn create_api_token(
        &self,
        name: &str,
        digest: &str,
        prefix: &str,
        scope: TokenScope,
        now: NaiveDateTime,
    ) -> Result<i64, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot create an API token";
        let mut rows = conn
            .query(
                "INSERT INTO api_tokens (name, digest, prefix, created_at, scope) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                libsql::params![name, digest, prefix, format_db(now), scope.as_str()],
            )
            .await
            .context(ctx)?;
        // RETURNING always yields the new row's id.
        Ok(first_id(&mut rows, ctx).await?.unwrap_or(0))
    }

    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot read API tokens";
        let mut rows = conn
            .query(
                "SELECT id, name, prefix, created_at, last_used_at, revoked_at, scope FROM api_tokens ORDER BY id DESC",
                (),
            )
            .await
            .context(ctx)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.context(ctx)? {
            let mut v = columns(&row, 7, ctx)?.into_iter();
            let mut next = || v.next().unwrap_or(libsql::Value::Null);
            let id = wide(&next()) as i64;
            let name = text(next()).unwrap_or_default();
            let prefix = text(next()).unwrap_or_default();
            let created_at = ts(next()).unwrap_or_default();
            let (last_used_at, revoked_at) = (ts(next()), ts(next()));
            // An unknown scope (a hand edit) reads as the lesser one.
            let scope = text(next())
                .as_deref()
                .and_then(TokenScope::parse)
                .unwrap_or_default();
            out.push(ApiToken {
                id,
                name,
                scope,
                prefix,
                created_at,
                last_used_at,
                revoked_at,
            });
        }
        Ok(out)
    }

    /// Revokes a token; whether it was live.
    pub async fn revoke_api_token(&self, id: i64, now: NaiveDateTime) -> Result<bool, StoreError> {
        let n = self
            .changed(
                "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                libsql::params![id, format_db(now)],
                "cannot revoke an API token",
            )
            .await?;
        Ok(n > 0)
    }

    /// The live token with this digest (its use recorded), if any: its name and scope.
    pub async fn use_api_token(
        &self,
        digest: &str,
        now: NaiveDateTime,
    ) -> Result<Option<TokenUse>, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot check an API token";
        let mut rows = conn
            .query(
                "UPDATE api_tokens SET last_used_at = ?2 WHERE digest = ?1 AND revoked_at IS NULL RETURNING name, scope",
                libsql::params![digest, format_db(now)],
            )
            .await
            .context(ctx)?;
        let Some(row) = rows.next().await.context(ctx)? else {
            return Ok(None);
        };
        let mut v = columns(&row, 2, ctx)?.into_iter();
        let name = v.next().and_then(text).unwrap_or_default();
        // An unknown scope (a hand edit) reads as the lesser one.
        let scope = v
            .next()
            .and_then(text)
            .as_deref()
            .and_then(TokenScope::parse)
            .unwrap_or_default();
        Ok(Some(TokenUse { name, scope }))
    }
}
