//! What incidents keep in the database: the incidents, their members (metric and kind of
//! alert) and their timeline. The rules of who joins what are in `crate::incident`.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use super::Store;
use super::error::{SqlContext, StoreError};
use super::row::{columns, first_id, text};
use crate::incident::{Incident, Member, Recovery, State};
use crate::timestamp::{format_db, parse_lenient};

/// An alert as it opens or joins an incident.
#[derive(Debug, Clone)]
pub struct NewMember {
    pub batch: String,
    pub metric: String,
    pub kind: String,
    pub tags: BTreeMap<String, String>,
    /// The flagged point's time.
    pub at: NaiveDateTime,
    pub recovery: Recovery,
}

/// One line of an incident's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentEvent {
    pub at: NaiveDateTime,
    /// `opened`, `joined`, `again`, `normal`, `acknowledged` or `resolved`.
    pub event: String,
    pub batch: String,
    pub metric: String,
    pub actor: String,
    pub detail: String,
}

/// What a request to change an incident's state did.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Changed,
    /// Nothing to do: it was already there (or past it), since then, by that actor.
    Already(State, Option<(NaiveDateTime, String)>),
    Missing,
}

const INCIDENT_COLUMNS: &str = "id, batch, title, state, opened_at, last_alert_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, email_message_id, slack_threads";

fn when(value: &libsql::Value) -> Option<NaiveDateTime> {
    text(value.clone()).as_deref().and_then(parse_lenient)
}

fn by(at: &libsql::Value, who: &libsql::Value) -> Option<(NaiveDateTime, String)> {
    Some((when(at)?, text(who.clone()).unwrap_or_default()))
}

fn incident_row(row: &libsql::Row, context: &str) -> Result<Option<Incident>, StoreError> {
    let v = columns(row, 12, context)?;
    let (Ok(id), Some(state), Some(opened_at), Some(last_alert_at)) = (
        row.get::<i64>(0),
        text(v[3].clone()).as_deref().and_then(State::parse),
        when(&v[4]),
        when(&v[5]),
    ) else {
        return Ok(None);
    };
    Ok(Some(Incident {
        id,
        batch: text(v[1].clone()).unwrap_or_default(),
        title: text(v[2].clone()).unwrap_or_default(),
        state,
        opened_at,
        last_alert_at,
        acknowledged: by(&v[6], &v[7]),
        resolved: by(&v[8], &v[9]),
        email_message_id: text(v[10].clone()).unwrap_or_default(),
        slack_threads: text(v[11].clone())
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
        members: Vec::new(),
    }))
}

fn member_row(row: &libsql::Row, context: &str) -> Result<Option<(i64, Member)>, StoreError> {
    let v = columns(row, 12, context)?;
    let (Ok(id), Some(first_at), Some(last_at), Some(joined_at), Some(last_alert_at)) = (
        row.get::<i64>(0),
        when(&v[5]),
        when(&v[6]),
        when(&v[8]),
        when(&v[9]),
    ) else {
        return Ok(None);
    };
    Ok(Some((
        id,
        Member {
            batch: text(v[1].clone()).unwrap_or_default(),
            metric: text(v[2].clone()).unwrap_or_default(),
            kind: text(v[3].clone()).unwrap_or_default(),
            tags: text(v[4].clone())
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or_default(),
            first_at,
            last_at,
            alerts: row
                .get::<i64>(7)
                .map_or(1, |n| u32::try_from(n).unwrap_or(1)),
            joined_at,
            last_alert_at,
            recovery: Recovery::parse(&text(v[10].clone()).unwrap_or_default()),
            normal_at: when(&v[11]),
        },
    )))
}

impl Store {
    /// Incidents matching `filter` (a SQL condition on `incidents` with no parameters), newest
    /// first, at most `limit`, with their members.
    async fn read_incidents(
        &self,
        filter: &str,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        let context = "cannot read incidents";
        let conn = self.connect().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = conn
            .within(conn.query(
                &format!(
                    "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE {filter} ORDER BY id DESC LIMIT ?1"
                ),
                libsql::params![limit],
            ))
            .await
            .context(context)?;
        let mut out: Vec<Incident> = Vec::new();
        while let Some(row) = rows.next().await.context(context)? {
            if let Some(i) = incident_row(&row, context)? {
                out.push(i);
            }
        }
        drop(rows);
        if out.is_empty() {
            return Ok(out);
        }
        let mut rows = conn
            .within(conn.query(
                &format!(
                    "SELECT incident_id, batch, metric, kind, tags, first_at, last_at, alerts, joined_at, last_alert_at, recovery, normal_at
                     FROM incident_members
                     WHERE incident_id IN (SELECT id FROM incidents WHERE {filter} ORDER BY id DESC LIMIT ?1)
                     ORDER BY joined_at, rowid"
                ),
                libsql::params![limit],
            ))
            .await
            .context(context)?;
        let index: BTreeMap<i64, usize> = out.iter().enumerate().map(|(n, i)| (i.id, n)).collect();
        while let Some(row) = rows.next().await.context(context)? {
            if let Some((id, member)) = member_row(&row, context)?
                && let Some(n) = index.get(&id)
            {
                out[*n].members.push(member);
            }
        }
        Ok(out)
    }

    /// Incidents not resolved yet, with their members.
    pub async fn active_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.read_incidents("state != 'resolved'", 1000).await
    }

    /// The newest incidents in `state`.
    pub async fn incidents_in(
        &self,
        state: State,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        self.read_incidents(&format!("state = '{}'", state.as_str()), limit)
            .await
    }

    /// The newest incidents, open and acknowledged ones first.
    pub async fn incidents(&self, limit: usize) -> Result<Vec<Incident>, StoreError> {
        let mut active = self.active_incidents().await?;
        let resolved = self
            .read_incidents("state = 'resolved'", limit.saturating_sub(active.len()))
            .await?;
        active.extend(resolved);
        active.truncate(limit);
        Ok(active)
    }

    pub async fn incident(&self, id: i64) -> Result<Option<Incident>, StoreError> {
        // `id` is an integer: the filter cannot carry anything else.
        Ok(self
            .read_incidents(&format!("id = {id}"), 1)
            .await?
            .into_iter()
            .next())
    }

    /// Opens an incident with its first member; its id.
    pub async fn open_incident(
        &self,
        title: &str,
        email_message_id: &str,
        member: &NewMember,
        now: NaiveDateTime,
    ) -> Result<i64, StoreError> {
        let context = format!("cannot open an incident for batch `{}`", member.batch);
        let conn = self.connect().await?;
        let tx = conn.transaction().await.context(&context)?;
        let mut rows = conn
            .within(tx.query(
                "INSERT INTO incidents (batch, title, state, opened_at, last_alert_at, email_message_id)
                 VALUES (?1, ?2, 'open', ?3, ?3, ?4) RETURNING id",
                libsql::params![member.batch.clone(), title, format_db(now), email_message_id],
            ))
            .await
            .context(&context)?;
        let id = first_id(&mut rows, &context).await?.unwrap_or(0);
        drop(rows);
        add_member(&conn, &tx, id, member, now, &context).await?;
        event(&conn, &tx, id, now, "opened", member, "", "", &context).await?;
        conn.within(tx.commit()).await.context(&context)?;
        Ok(id)
    }

    /// Adds an alert to incident `id`: a new member, or another alert of one; whether the
    /// member is new, or `None` when the incident was resolved meanwhile (nothing changed).
    pub async fn join_incident(
        &self,
        id: i64,
        member: &NewMember,
        now: NaiveDateTime,
    ) -> Result<Option<bool>, StoreError> {
        let context = format!("cannot add `{}` to incident #{id}", member.metric);
        let conn = self.connect().await?;
        let tx = conn.transaction().await.context(&context)?;
        let open = conn
            .within(tx.execute(
                "UPDATE incidents SET last_alert_at = ?2 WHERE id = ?1 AND state != 'resolved'",
                libsql::params![id, format_db(now)],
            ))
            .await
            .context(&context)?;
        if open == 0 {
            // Dropped, the transaction rolls back.
            return Ok(None);
        }
        let mut rows = conn
            .within(tx.query(
                "UPDATE incident_members SET alerts = alerts + 1, last_at = MAX(last_at, ?5),
                   last_alert_at = ?6, normal_at = NULL
                 WHERE incident_id = ?1 AND batch = ?2 AND metric = ?3 AND kind = ?4 RETURNING alerts",
                libsql::params![
                    id,
                    member.batch.clone(),
                    member.metric.clone(),
                    member.kind.clone(),
                    format_db(member.at),
                    format_db(now)
                ],
            ))
            .await
            .context(&context)?;
        let known = rows.next().await.context(&context)?.is_some();
        drop(rows);
        if !known {
            add_member(&conn, &tx, id, member, now, &context).await?;
        }
        let what = if known { "again" } else { "joined" };
        event(&conn, &tx, id, now, what, member, "", "", &context).await?;
        conn.within(tx.commit()).await.context(&context)?;
        Ok(Some(!known))
    }

    /// Marks one member of incident `id` back to normal (it was quiet for a window).
    pub async fn incident_member_normal_in(
        &self,
        id: i64,
        batch: &str,
        metric: &str,
        kind: &str,
        now: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let context = format!("cannot mark `{metric}` back to normal in incident #{id}");
        let conn = self.connect().await?;
        let tx = conn.transaction().await.context(&context)?;
        let changed = conn
            .within(tx.execute(
                "UPDATE incident_members SET normal_at = ?5
                 WHERE incident_id = ?1 AND batch = ?2 AND metric = ?3 AND kind = ?4 AND normal_at IS NULL",
                libsql::params![id, batch, metric, kind, format_db(now)],
            ))
            .await
            .context(&context)?;
        if changed > 0 {
            conn.within(tx.execute(
                "INSERT INTO incident_events (incident_id, at, event, batch, metric, detail)
                 VALUES (?1, ?2, 'normal', ?3, ?4, ?5)",
                libsql::params![
                    id,
                    format_db(now),
                    batch,
                    metric,
                    format!("{kind}, quiet for a window")
                ],
            ))
            .await
            .context(&context)?;
        }
        conn.within(tx.commit()).await.context(&context)?;
        Ok(())
    }

    /// Marks `metric`'s members of `kind` in active incidents back to normal; the incidents
    /// it changed.
    pub async fn incident_member_normal(
        &self,
        batch: &str,
        metric: &str,
        kind: &str,
        now: NaiveDateTime,
    ) -> Result<Vec<i64>, StoreError> {
        let context = format!("cannot mark `{metric}` back to normal in its incidents");
        let conn = self.connect().await?;
        let tx = conn.transaction().await.context(&context)?;
        let mut rows = conn
            .within(tx.query(
                "UPDATE incident_members SET normal_at = ?4
                 WHERE batch = ?1 AND metric = ?2 AND kind = ?3 AND normal_at IS NULL
                   AND incident_id IN (SELECT id FROM incidents WHERE state != 'resolved')
                 RETURNING incident_id",
                libsql::params![batch, metric, kind, format_db(now)],
            ))
            .await
            .context(&context)?;
        let mut ids = Vec::new();
        while let Some(row) = rows.next().await.context(&context)? {
            ids.push(row.get::<i64>(0).context(&context)?);
        }
        drop(rows);
        for id in &ids {
            conn.within(tx.execute(
                "INSERT INTO incident_events (incident_id, at, event, batch, metric, detail)
                 VALUES (?1, ?2, 'normal', ?3, ?4, ?5)",
                libsql::params![*id, format_db(now), batch, metric, kind],
            ))
            .await
            .context(&context)?;
        }
        conn.within(tx.commit()).await.context(&context)?;
        Ok(ids)
    }

    /// Moves incident `id` to `to` (acknowledged or resolved) on behalf of `actor`. An
    /// incident only moves forward: acknowledging a resolved one does nothing.
    pub async fn set_incident_state(
        &self,
        id: i64,
        to: State,
        actor: &str,
        now: NaiveDateTime,
    ) -> Result<Transition, StoreError> {
        let context = format!("cannot change incident #{id}");
        let Some(current) = self.incident(id).await? else {
            return Ok(Transition::Missing);
        };
        let order = |s: State| match s {
            State::Open => 0,
            State::Acknowledged => 1,
            State::Resolved => 2,
        };
        if order(current.state) >= order(to) {
            let since = match current.state {
                State::Resolved => current.resolved,
                State::Acknowledged => current.acknowledged,
                State::Open => None,
            };
            return Ok(Transition::Already(current.state, since));
        }
        let (at_col, by_col) = match to {
            State::Acknowledged => ("acknowledged_at", "acknowledged_by"),
            State::Resolved => ("resolved_at", "resolved_by"),
            State::Open => return Ok(Transition::Already(current.state, None)),
        };
        let conn = self.connect().await?;
        let tx = conn.transaction().await.context(&context)?;
        let changed = conn
            .within(tx.execute(
                &format!(
                    "UPDATE incidents SET state = ?2, {at_col} = ?3, {by_col} = ?4
                     WHERE id = ?1 AND state = ?5"
                ),
                libsql::params![
                    id,
                    to.as_str(),
                    format_db(now),
                    actor,
                    current.state.as_str()
                ],
            ))
            .await
            .context(&context)?;
        if changed == 0 {
            // Someone else moved it meanwhile.
            drop(tx);
            let now_state = self
                .incident(id)
                .await?
                .map_or(State::Resolved, |i| i.state);
            return Ok(Transition::Already(now_state, None));
        }
        conn.within(tx.execute(
            "INSERT INTO incident_events (incident_id, at, event, actor) VALUES (?1, ?2, ?3, ?4)",
            libsql::params![id, format_db(now), to.as_str(), actor],
        ))
        .await
        .context(&context)?;
        conn.within(tx.commit()).await.context(&context)?;
        Ok(Transition::Changed)
    }

    /// Remembers the Slack thread of incident `id` in `channel`.
    pub async fn record_incident_thread(
        &self,
        id: i64,
        channel: &str,
        ts: &str,
    ) -> Result<(), StoreError> {
        let context = format!("cannot record the Slack thread of incident #{id}");
        let conn = self.connect().await?;
        conn.within(conn.execute(
            "UPDATE incidents SET slack_threads = json_set(slack_threads, '$.' || json_quote(?2), ?3)
             WHERE id = ?1",
            libsql::params![id, channel, ts],
        ))
        .await
        .context(&context)?;
        Ok(())
    }

    /// Incident `id`'s timeline, oldest first.
    pub async fn incident_events(&self, id: i64) -> Result<Vec<IncidentEvent>, StoreError> {
        let context = format!("cannot read the timeline of incident #{id}");
        let conn = self.connect().await?;
        let mut rows = conn
            .within(conn.query(
                "SELECT at, event, batch, metric, actor, detail FROM incident_events
                 WHERE incident_id = ?1 ORDER BY id",
                libsql::params![id],
            ))
            .await
            .context(&context)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.context(&context)? {
            let v = columns(&row, 6, &context)?;
            let Some(at) = when(&v[0]) else { continue };
            let t = |n: usize| text(v[n].clone()).unwrap_or_default();
            out.push(IncidentEvent {
                at,
                event: t(1),
                batch: t(2),
                metric: t(3),
                actor: t(4),
                detail: t(5),
            });
        }
        Ok(out)
    }
}

async fn add_member(
    conn: &super::Conn,
    tx: &libsql::Transaction,
    id: i64,
    m: &NewMember,
    now: NaiveDateTime,
    context: &str,
) -> Result<(), StoreError> {
    let tags = serde_json::to_string(&m.tags).unwrap_or_else(|_| "{}".into());
    conn.within(tx.execute(
        "INSERT INTO incident_members (incident_id, batch, metric, kind, tags, first_at, last_at, joined_at, last_alert_at, recovery)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?7, ?8)",
        libsql::params![
            id,
            m.batch.clone(),
            m.metric.clone(),
            m.kind.clone(),
            tags,
            format_db(m.at),
            format_db(now),
            m.recovery.as_str()
        ],
    ))
    .await
    .context(context)?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn event(
    conn: &super::Conn,
    tx: &libsql::Transaction,
    id: i64,
    now: NaiveDateTime,
    what: &str,
    m: &NewMember,
    actor: &str,
    detail: &str,
    context: &str,
) -> Result<(), StoreError> {
    let detail = if detail.is_empty() { &m.kind } else { detail };
    conn.within(tx.execute(
        "INSERT INTO incident_events (incident_id, at, event, batch, metric, actor, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        libsql::params![
            id,
            format_db(now),
            what,
            m.batch.clone(),
            m.metric.clone(),
            actor,
            detail.to_owned()
        ],
    ))
    .await
    .context(context)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseLocation;

    fn t(s: &str) -> NaiveDateTime {
        parse_lenient(s).unwrap()
    }

    fn member(metric: &str, kind: &str) -> NewMember {
        NewMember {
            batch: "shop".into(),
            metric: metric.into(),
            kind: kind.into(),
            tags: [("team".to_owned(), "growth".to_owned())].into(),
            at: t("2026-12-01 10:00"),
            recovery: Recovery::of(kind, true),
        }
    }

    #[tokio::test]
    async fn an_incident_keeps_its_members_timeline_thread_and_moves_only_forward() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&DatabaseLocation::Local {
            path: dir.path().join("a.db"),
        })
        .await
        .unwrap();
        let now = t("2026-12-01 10:01");
        let id = store
            .open_incident(
                "🔥 orders",
                "<x@anomstack>",
                &member("orders", "anomaly"),
                now,
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .join_incident(id, &member("visits", "threshold"), now)
                .await
                .unwrap(),
            Some(true)
        );
        assert_eq!(
            store
                .join_incident(id, &member("orders", "anomaly"), t("2026-12-01 10:06"))
                .await
                .unwrap(),
            Some(false),
            "a second alert of a member"
        );
        store
            .record_incident_thread(id, "C1", "123.456")
            .await
            .unwrap();
        let active = store.active_incidents().await.unwrap();
        assert_eq!(active.len(), 1);
        let i = &active[0];
        assert_eq!(i.metrics(), vec!["orders", "visits"]);
        assert_eq!(i.members[0].alerts, 2);
        assert_eq!(i.members[0].tags["team"], "growth");
        assert_eq!(i.last_alert_at, t("2026-12-01 10:06"));
        assert_eq!(i.slack_threads["C1"], "123.456");
        assert_eq!(
            store
                .incident_member_normal("shop", "orders", "anomaly", t("2026-12-01 10:30"))
                .await
                .unwrap(),
            vec![id]
        );
        assert_eq!(
            store
                .set_incident_state(id, State::Acknowledged, "ann", t("2026-12-01 10:31"))
                .await
                .unwrap(),
            Transition::Changed
        );
        assert_eq!(
            store
                .set_incident_state(id, State::Resolved, "bob", t("2026-12-01 10:40"))
                .await
                .unwrap(),
            Transition::Changed
        );
        assert_eq!(
            store
                .set_incident_state(id, State::Acknowledged, "cy", t("2026-12-01 10:41"))
                .await
                .unwrap(),
            Transition::Already(State::Resolved, Some((t("2026-12-01 10:40"), "bob".into()))),
            "no way back"
        );
        assert_eq!(
            store
                .set_incident_state(99, State::Resolved, "x", now)
                .await
                .unwrap(),
            Transition::Missing
        );
        assert!(store.active_incidents().await.unwrap().is_empty());
        assert_eq!(
            store
                .join_incident(id, &member("late", "anomaly"), t("2026-12-01 10:42"))
                .await
                .unwrap(),
            None,
            "a resolved incident takes no one"
        );
        assert_eq!(store.incident(id).await.unwrap().unwrap().members.len(), 2);
        let events: Vec<String> = store
            .incident_events(id)
            .await
            .unwrap()
            .iter()
            .map(|e| format!("{} {} {}", e.event, e.metric, e.actor))
            .collect();
        assert_eq!(
            events,
            vec![
                "opened orders ",
                "joined visits ",
                "again orders ",
                "normal orders ",
                "acknowledged  ann",
                "resolved  bob"
            ]
        );
    }
}
