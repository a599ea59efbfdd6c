//! What the alert messages' feedback links need from the database: the key that signs them
//! (made once, shared by every machine on the database) and the links already used.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::NaiveDateTime;
use password_hash::rand_core::{OsRng, RngCore};

use super::Store;
use super::error::{SqlContext, StoreError};
use super::row::text;
use crate::timestamp::format_db;

/// The `link_keys` row of the feedback links.
const PURPOSE: &str = "feedback";

impl Store {
    /// The key that signs feedback links: read, or made and stored on first use (the only
    /// write). Two machines making it at once keep the first one written.
    pub async fn link_key(&self, now: NaiveDateTime) -> Result<Vec<u8>, StoreError> {
        if let Some(key) = self.made_link_key().await? {
            return Ok(key);
        }
        let context = "cannot read the feedback links' key";
        let conn = self.connect().await?;
        let mut fresh = [0u8; 32];
        OsRng.fill_bytes(&mut fresh);
        let fresh = STANDARD.encode(fresh);
        conn.within(conn.execute(
            "INSERT INTO link_keys (purpose, secret, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (purpose) DO NOTHING",
            libsql::params![PURPOSE, fresh, format_db(now)],
        ))
        .await
        .context(context)?;
        self.made_link_key()
            .await?
            .ok_or_else(|| StoreError::BadRow {
                context: context.to_owned(),
                row: 1,
                reason: "the stored key is not base64 of 16 bytes or more".to_owned(),
            })
    }

    /// The key that signs feedback links, if one was made (reading never makes one: a link
    /// opened before any was made is not genuine).
    pub async fn made_link_key(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let context = "cannot read the feedback links' key";
        let conn = self.connect().await?;
        let mut rows = conn
            .within(conn.query("SELECT secret FROM link_keys WHERE purpose = ?1", [PURPOSE]))
            .await
            .context(context)?;
        let secret = match rows.next().await.context(context)? {
            Some(row) => text(row.get_value(0).context(context)?),
            None => None,
        };
        Ok(secret
            .and_then(|s| STANDARD.decode(s).ok())
            .filter(|k| k.len() >= 16))
    }

    /// Whether a link was used already.
    pub async fn link_spent(&self, nonce: &str) -> Result<bool, StoreError> {
        let context = "cannot read the used feedback links";
        let conn = self.connect().await?;
        let mut rows = conn
            .within(conn.query("SELECT 1 FROM spent_links WHERE nonce = ?1", [nonce]))
            .await
            .context(context)?;
        Ok(rows.next().await.context(context)?.is_some())
    }

    /// Marks a link used; false when it already was. Forgets links past their expiry (they
    /// are refused for that alone).
    pub async fn spend_link(
        &self,
        nonce: &str,
        expires: NaiveDateTime,
        now: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let context = "cannot record a used feedback link";
        let conn = self.connect().await?;
        conn.within(conn.execute(
            "DELETE FROM spent_links WHERE expires_at < ?1",
            [format_db(now)],
        ))
        .await
        .context(context)?;
        let added = conn
            .within(conn.execute(
                "INSERT INTO spent_links (nonce, spent_at, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (nonce) DO NOTHING",
                libsql::params![nonce, format_db(now), format_db(expires)],
            ))
            .await
            .context(context)?;
        Ok(added == 1)
    }

    /// Makes a link usable again (its verdict could not be stored).
    pub async fn unspend_link(&self, nonce: &str) -> Result<(), StoreError> {
        let context = "cannot release a feedback link";
        let conn = self.connect().await?;
        conn.within(conn.execute("DELETE FROM spent_links WHERE nonce = ?1", [nonce]))
            .await
            .context(context)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::parse_lenient;

    #[tokio::test]
    async fn the_key_is_made_once_and_a_link_is_spent_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::config::DatabaseLocation::Local {
            path: dir.path().join("a.db"),
        })
        .await
        .unwrap();
        let now = parse_lenient("2026-12-01 00:00:00").unwrap();
        assert_eq!(store.made_link_key().await.unwrap(), None);
        let key = store.link_key(now).await.unwrap();
        assert_eq!(key.len(), 32);
        assert_eq!(store.made_link_key().await.unwrap(), Some(key.clone()));
        assert_eq!(store.link_key(now).await.unwrap(), key);
        let expires = parse_lenient("2026-12-08 00:00:00").unwrap();
        assert!(!store.link_spent("n1").await.unwrap());
        assert!(store.spend_link("n1", expires, now).await.unwrap());
        assert!(store.link_spent("n1").await.unwrap());
        assert!(!store.spend_link("n1", expires, now).await.unwrap());
        assert!(store.spend_link("n2", expires, now).await.unwrap());
        store.unspend_link("n2").await.unwrap();
        assert!(store.spend_link("n2", expires, now).await.unwrap());
        // Past its expiry a nonce is forgotten: the link is refused for expiring instead.
        let later = parse_lenient("2026-12-09 00:00:00").unwrap();
        assert!(store.spend_link("n1", expires, later).await.unwrap());
    }
}
