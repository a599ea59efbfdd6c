//! Incidents, after a batch's job and before its messages go: each alert of the run opens or
//! joins an incident (`crate::incident` decides which), each "back to normal" marks its
//! member, and the batch's incidents whose members are all back to normal resolve themselves
//! with one notice. Decides every notice's part in the delivery (`notify::thread::Part`).

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDateTime, Utc};

use super::{Event, JobCtx, JobReport, Notice};
use crate::config::Batch;
use crate::feedback_link::new_nonce;
use crate::incident::{
    Arrival, Incident, Member, Recovery, State, groups, joins, member_label, quiet_members,
    recovering_kind,
};
use crate::notify::route::{alert_tags, metric_tags};
use crate::notify::silence::silencing;
use crate::notify::thread::{Part, Telling};
use crate::store::{NewMember, Silence, Store, StoreError, Transition};

/// Who resolves an incident whose metrics are all back to normal.
pub const AUTO_RESOLVER: &str = "anomstack (every metric back to normal)";

/// Groups `report`'s notices into incidents and sets their parts; a failure leaves every
/// notice told on its own, and is logged.
pub async fn group(ctx: &JobCtx, batch: &Batch, report: &mut JobReport) {
    let window = batch.spec.incident_window_minutes;
    // History (a backfill or seed) raised its alerts long ago: they make no incident now.
    if window == 0 || ctx.history {
        return;
    }
    let now = Utc::now().naive_utc();
    // A silenced alert stays out of incidents (delivery holds it back as before); without
    // the silences, every alert groups and delivery still silences the messages.
    let silences = if report.notices.iter().any(|n| groups(n.kind())) {
        ctx.store.silences(now, false).await.unwrap_or_default()
    } else {
        Vec::new()
    };
    let window = Duration::minutes(i64::from(window));
    match place(
        &ctx.store,
        batch,
        &mut report.notices,
        &silences,
        now,
        window,
    )
    .await
    {
        Ok(parts) => report.parts = parts,
        Err(e) => {
            report.parts.clear();
            report.note(format!(
                "incidents not updated, alerts are told on their own: {e}"
            ));
        }
    }
}

/// When the alert a notice tells of was flagged (the stale ones: when data was last seen).
fn flagged_at(notice: &Notice, now: NaiveDateTime) -> NaiveDateTime {
    match &notice.event {
        Event::Stale { last_seen, .. } => *last_seen,
        Event::NoRows { at } => *at,
        _ => notice.anomaly_at().unwrap_or(now),
    }
}

/// Whether an incident that resolved itself is worth a message: one that told more than one
/// metric, or one whose metrics would each have had a "back to normal" notice of their own.
/// A lone threshold or change alert that stayed quiet for a window ends without one.
fn resolution_told(incident: &Incident) -> bool {
    incident.metrics().len() > 1
        || incident
            .members
            .iter()
            .any(|m| m.recovery == Recovery::Notice)
}

/// Records `member` in the in-memory copy of incident `id` as the store now has it.
fn remember(active: &mut [Incident], id: i64, member: &NewMember, now: NaiveDateTime) {
    let Some(i) = active.iter_mut().find(|i| i.id == id) else {
        return;
    };
    i.last_alert_at = now;
    let known = i
        .members
        .iter_mut()
        .find(|m| m.batch == member.batch && m.metric == member.metric && m.kind == member.kind);
    match known {
        Some(m) => {
            m.last_alert_at = now;
            m.last_at = m.last_at.max(member.at);
            m.alerts += 1;
            m.normal_at = None;
        }
        None => i.members.push(Member {
            batch: member.batch.clone(),
            metric: member.metric.clone(),
            kind: member.kind.clone(),
            tags: member.tags.clone(),
            first_at: member.at,
            last_at: member.at,
            alerts: 1,
            joined_at: now,
            last_alert_at: now,
            recovery: member.recovery,
            normal_at: None,
        }),
    }
}

/// Each notice's part, with the store updated: alerts opened or joined, members back to
/// normal, incidents of `batch` resolved (their notices appended to `notices`).
pub(crate) async fn place(
    store: &Store,
    batch: &Batch,
    notices: &mut Vec<Notice>,
    silences: &[Silence],
    now: NaiveDateTime,
    window: Duration,
) -> Result<Vec<Part>, StoreError> {
    let mut active = store.active_incidents().await?;
    // Per incident told in this delivery: the notice telling it, whether it opens it, and the
    // other metrics joining with it.
    let mut told: BTreeMap<i64, (usize, bool, Vec<String>)> = BTreeMap::new();
    let mut folded: Vec<(usize, i64)> = Vec::new();
    // Per incident, the newest "back to normal" notice of this run about one of its metrics.
    let mut recovered: BTreeMap<i64, usize> = BTreeMap::new();
    let resolves = batch.spec.alert_resolve_n > 0;
    for (n, notice) in notices.iter().enumerate() {
        let kind = notice.kind();
        if let Some(member_kind) = recovering_kind(kind) {
            let ids = store
                .incident_member_normal(batch.name(), &notice.metric, member_kind, now)
                .await?;
            if let Some(id) = ids.first() {
                folded.push((n, *id));
                for id in ids {
                    recovered.insert(id, n);
                }
            }
            continue;
        }
        if !groups(kind) {
            continue;
        }
        let tags = alert_tags(Some(batch), notice);
        if silencing(silences, batch.name(), &notice.metric, &tags, now).is_some() {
            continue;
        }
        let own_tags = metric_tags(&batch.spec, &notice.metric);
        let member = NewMember {
            batch: batch.name().to_owned(),
            metric: notice.metric.clone(),
            kind: kind.to_owned(),
            tags: own_tags.clone(),
            at: flagged_at(notice, now),
            recovery: Recovery::of(kind, resolves),
        };
        let arrival = Arrival {
            batch: batch.name(),
            tags: &own_tags,
        };
        let mut joined = None;
        if let Some(id) = joins(&active, arrival, now, window) {
            match store.join_incident(id, &member, now).await? {
                Some(new) => {
                    remember(&mut active, id, &member, now);
                    joined = Some((id, new));
                }
                // Resolved meanwhile (by someone else): this alert opens a new one.
                None => active.retain(|i| i.id != id),
            }
        }
        match joined {
            Some((id, new)) => match told.get_mut(&id) {
                Some((_, _, with)) => {
                    if new {
                        let home = active
                            .iter()
                            .find(|i| i.id == id)
                            .map_or(batch.name(), |i| i.batch.as_str());
                        with.push(member_label(batch.name(), &notice.metric, home));
                    }
                    folded.push((n, id));
                }
                None if new => {
                    told.insert(id, (n, false, Vec::new()));
                }
                // Another alert of a metric the incident already told of.
                None => folded.push((n, id)),
            },
            None => {
                let message_id = format!("<incident.{}@anomstack>", new_nonce());
                let id = store
                    .open_incident(&notice.title(), &message_id, &member, now)
                    .await?;
                if let Some(opened) = store.incident(id).await? {
                    active.push(opened);
                }
                told.insert(id, (n, true, Vec::new()));
            }
        }
    }
    // The batch's own incidents that may have come back to normal. The in-memory copies
    // carry this run's joins (`remember`), which is all quietness depends on; the store then
    // says whether every member is back.
    let mut resolutions: Vec<(usize, i64)> = Vec::new();
    for incident in active.iter().filter(|i| i.batch == batch.name()) {
        let id = incident.id;
        for (b, m, k) in quiet_members(incident, now, window) {
            store.incident_member_normal_in(id, &b, &m, &k, now).await?;
        }
        let Some(fresh) = store.incident(id).await? else {
            continue;
        };
        if !(fresh.all_normal()
            && store
                .set_incident_state(id, State::Resolved, AUTO_RESOLVER, now)
                .await?
                == Transition::Changed
            && resolution_told(&fresh))
        {
            continue;
        }
        // One metric, back to normal in this very run: its own notice ("ingest returns rows
        // again") says it best, on the thread.
        if let (1, Some(&n)) = (fresh.metrics().len(), recovered.get(&id)) {
            folded.retain(|(f, _)| *f != n);
            resolutions.push((n, id));
        } else {
            notices.push(Notice {
                metric: String::new(),
                event: Event::IncidentResolved {
                    incident: id,
                    opened_at: fresh.opened_at,
                    at: now,
                    metrics: fresh.metrics(),
                },
            });
            resolutions.push((notices.len() - 1, id));
        }
    }
    let mut parts = vec![Part::Alone; notices.len()];
    for (n, id) in folded {
        parts[n] = Part::Folded(id);
    }
    let telling = told
        .into_iter()
        .map(|(id, (n, opens, with))| (id, n, opens, with))
        .chain(
            resolutions
                .into_iter()
                .map(|(n, id)| (id, n, false, Vec::new())),
        );
    for (id, n, opens, with) in telling {
        let Some(incident) = store.incident(id).await? else {
            continue;
        };
        parts[n] = Part::Tells(Box::new(Telling {
            incident,
            opens,
            with,
        }));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::{DatabaseLocation, builtin_defaults_batch};
    use crate::timestamp::parse_lenient;

    fn t(s: &str) -> NaiveDateTime {
        parse_lenient(&format!("2026-12-01 {s}:00")).unwrap()
    }

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&DatabaseLocation::Local {
            path: dir.path().join("i.db"),
        })
        .await
        .unwrap();
        (dir, store)
    }

    /// Batch `name` (ML alerts recover after a quiet window) with `tagged` metrics in
    /// team growth.
    fn batch(name: &str, tagged: &[&str]) -> Batch {
        let mut spec = builtin_defaults_batch(name).unwrap();
        spec.alert_resolve_n = 0;
        for m in tagged {
            spec.metric_tags.insert(
                (*m).to_owned(),
                [("team".to_owned(), serde_json::json!("growth"))].into(),
            );
        }
        Batch::new(spec, PathBuf::from(format!("{name}.yaml")), Vec::new()).unwrap()
    }

    fn alert(metric: &str, at: &str) -> Notice {
        Notice {
            metric: metric.into(),
            event: Event::Anomaly {
                at: t(at),
                value: Some(1.0),
                score: 0.99,
                threshold: 0.9,
            },
        }
    }

    fn breach(metric: &str, at: &str) -> Notice {
        Notice {
            metric: metric.into(),
            event: Event::Threshold {
                at: t(at),
                value: 9.0,
                upper: true,
                bound: 5.0,
            },
        }
    }

    /// Each part in words: `tells #1 opens [m2]`, `tells #1`, `folded #1`, `alone`.
    fn said(parts: &[Part]) -> Vec<String> {
        parts
            .iter()
            .map(|p| match p {
                Part::Alone => "alone".to_owned(),
                Part::Folded(id) => format!("folded #{id}"),
                Part::Tells(t) if t.opens => {
                    format!("tells #{} opens {:?}", t.incident.id, t.with)
                }
                Part::Tells(t) => format!("tells #{}", t.incident.id),
            })
            .collect()
    }

    async fn run(
        store: &Store,
        batch: &Batch,
        mut notices: Vec<Notice>,
        silences: &[Silence],
        at: &str,
    ) -> (Vec<Notice>, Vec<String>) {
        let parts = place(
            store,
            batch,
            &mut notices,
            silences,
            t(at),
            Duration::minutes(30),
        )
        .await
        .unwrap();
        (notices, said(&parts))
    }

    #[tokio::test]
    async fn alerts_of_one_run_make_one_incident_told_once() {
        let (_dir, store) = store().await;
        let shop = batch("shop", &[]);
        let (_, parts) = run(
            &store,
            &shop,
            vec![
                alert("m1", "10:00"),
                alert("m2", "10:00"),
                alert("m3", "10:00"),
            ],
            &[],
            "10:01",
        )
        .await;
        assert_eq!(
            parts,
            [r#"tells #1 opens ["m2", "m3"]"#, "folded #1", "folded #1"]
        );
        let (_, parts) = run(&store, &shop, vec![alert("m4", "10:05")], &[], "10:06").await;
        assert_eq!(parts, ["tells #1"], "a metric joining later is told");
        let (_, parts) = run(&store, &shop, vec![alert("m1", "10:10")], &[], "10:11").await;
        assert_eq!(parts, ["folded #1"], "a member alerting again is not");
    }

    #[tokio::test]
    async fn a_member_alerting_again_is_not_counted_quiet_and_the_incident_resolves_after_a_window()
    {
        let (_dir, store) = store().await;
        let shop = batch("shop", &[]);
        run(
            &store,
            &shop,
            vec![breach("m1", "10:00"), alert("m2", "10:00")],
            &[],
            "10:00",
        )
        .await;
        run(&store, &shop, vec![alert("m2", "10:20")], &[], "10:20").await;
        // m1 alerts again as its first alert turns a window old: still not normal.
        let (notices, parts) = run(&store, &shop, vec![breach("m1", "10:40")], &[], "10:40").await;
        assert_eq!(parts, ["folded #1"]);
        assert_eq!(notices.len(), 1, "no resolution");
        let i = store.incident(1).await.unwrap().unwrap();
        assert_eq!(i.state, State::Open);
        assert!(i.members.iter().all(|m| m.normal_at.is_none()));
        // A window after the last alerts, both are quiet: one resolution, on the thread.
        let (notices, parts) = run(&store, &shop, vec![], &[], "11:11").await;
        assert_eq!(parts, ["tells #1"]);
        assert!(matches!(
            notices[0].event,
            Event::IncidentResolved { incident: 1, .. }
        ));
        let i = store.incident(1).await.unwrap().unwrap();
        assert_eq!(i.resolved.map(|r| r.1).as_deref(), Some(AUTO_RESOLVER));
    }

    #[tokio::test]
    async fn a_quiet_member_of_one_incident_stays_alerting_in_the_next() {
        let (_dir, store) = store().await;
        let shop = batch("shop", &[]);
        run(&store, &shop, vec![breach("m1", "10:00")], &[], "10:00").await;
        // An hour later m1 breaches again: a new incident, while the first one ends quietly
        // (a lone threshold alert: no message for that).
        let (notices, parts) = run(&store, &shop, vec![breach("m1", "11:00")], &[], "11:00").await;
        assert_eq!(parts, ["tells #2 opens []"]);
        assert_eq!(notices.len(), 1, "no message for the quiet end of #1");
        assert_eq!(
            store.incident(1).await.unwrap().unwrap().state,
            State::Resolved
        );
        let second = store.incident(2).await.unwrap().unwrap();
        assert_eq!(second.state, State::Open);
        assert!(second.members[0].normal_at.is_none());
    }

    #[tokio::test]
    async fn a_silenced_alert_stays_out_and_the_next_one_tells_the_incident() {
        let (_dir, store) = store().await;
        let shop = batch("shop", &[]);
        let silence = Silence {
            id: 1,
            batch: String::new(),
            metric: "m1".into(),
            tag_key: String::new(),
            tag_value: String::new(),
            comment: String::new(),
            created_by: "ops".into(),
            created_at: t("09:00"),
            starts_at: t("09:00"),
            ends_at: t("12:00"),
        };
        let (_, parts) = run(
            &store,
            &shop,
            vec![
                alert("m1", "10:00"),
                alert("m2", "10:00"),
                alert("m3", "10:00"),
            ],
            &[silence],
            "10:01",
        )
        .await;
        assert_eq!(parts, ["alone", r#"tells #1 opens ["m3"]"#, "folded #1"]);
        assert_eq!(
            store.incident(1).await.unwrap().unwrap().metrics(),
            ["m2", "m3"]
        );
    }

    #[tokio::test]
    async fn a_shared_tag_joins_across_batches_and_a_resolved_incident_takes_no_one() {
        let (_dir, store) = store().await;
        let shop = batch("shop", &["orders"]);
        let ads = batch("ads", &["clicks"]);
        run(&store, &shop, vec![alert("orders", "10:00")], &[], "10:00").await;
        let (_, parts) = run(
            &store,
            &ads,
            vec![alert("clicks", "10:02"), alert("views", "10:02")],
            &[],
            "10:02",
        )
        .await;
        assert_eq!(
            parts,
            ["tells #1", "folded #1"],
            "views joins with clicks, its batch now being in the incident"
        );
        let i = store.incident(1).await.unwrap().unwrap();
        assert_eq!(i.metrics(), ["orders", "ads/clicks", "ads/views"]);
        let (_, parts) = run(&store, &shop, vec![alert("visits", "10:03")], &[], "10:03").await;
        assert_eq!(parts, ["tells #1"]);
        store
            .set_incident_state(1, State::Resolved, "ops", t("10:04"))
            .await
            .unwrap();
        let (_, parts) = run(&store, &ads, vec![alert("clicks", "10:05")], &[], "10:05").await;
        assert_eq!(parts, ["tells #2 opens []"]);
    }
}
