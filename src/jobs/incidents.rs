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
    Arrival, Recovery, State, groups, joins, member_label, quiet_members, recovering_kind,
};
use crate::notify::route::metric_tags;
use crate::notify::thread::{Part, Telling};
use crate::store::{NewMember, StoreError, Transition};

/// Who resolves an incident whose metrics are all back to normal.
pub const AUTO_RESOLVER: &str = "anomstack (every metric back to normal)";

/// Groups `report`'s notices into incidents and sets their parts; a failure leaves every
/// notice told on its own, and is logged.
pub async fn group(ctx: &JobCtx, batch: &Batch, report: &mut JobReport) {
    let window = batch.spec.incident_window_minutes;
    if window == 0 {
        return;
    }
    let now = Utc::now().naive_utc();
    match place(
        ctx,
        batch,
        &mut report.notices,
        now,
        Duration::minutes(i64::from(window)),
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

async fn place(
    ctx: &JobCtx,
    batch: &Batch,
    notices: &mut Vec<Notice>,
    now: NaiveDateTime,
    window: Duration,
) -> Result<Vec<Part>, StoreError> {
    let store = &ctx.store;
    let mut active = store.active_incidents().await?;
    // Per incident told in this delivery: the notice telling it, whether it opens it, and the
    // other metrics joining with it.
    let mut told: BTreeMap<i64, (usize, bool, Vec<String>)> = BTreeMap::new();
    let mut folded: Vec<(usize, i64)> = Vec::new();
    let resolves = batch.spec.alert_resolve_n > 0;
    for (n, notice) in notices.iter().enumerate() {
        let kind = notice.kind();
        if let Some(member_kind) = recovering_kind(kind) {
            let ids = store
                .incident_member_normal(batch.name(), &notice.metric, member_kind, now)
                .await?;
            if let Some(id) = ids.first() {
                folded.push((n, *id));
            }
            continue;
        }
        if !groups(kind) {
            continue;
        }
        let tags = metric_tags(&batch.spec, &notice.metric);
        let member = NewMember {
            batch: batch.name().to_owned(),
            metric: notice.metric.clone(),
            kind: kind.to_owned(),
            tags: tags.clone(),
            at: flagged_at(notice, now),
            recovery: Recovery::of(kind, resolves),
        };
        let arrival = Arrival {
            batch: batch.name(),
            tags: &tags,
        };
        match joins(&active, arrival, now, window) {
            Some(id) => {
                let new = store.join_incident(id, &member, now).await?;
                if let Some(i) = active.iter_mut().find(|i| i.id == id) {
                    i.last_alert_at = now;
                }
                match told.get_mut(&id) {
                    Some((_, _, with)) => {
                        if new {
                            with.push(member_label(batch.name(), &notice.metric, batch.name()));
                        }
                        folded.push((n, id));
                    }
                    None if new => {
                        told.insert(id, (n, false, Vec::new()));
                    }
                    // Another alert of a metric the incident already told of.
                    None => folded.push((n, id)),
                }
            }
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
    // The batch's own incidents that may have come back to normal.
    for incident in active.iter().filter(|i| i.batch == batch.name()) {
        for (b, m, k) in quiet_members(incident, now, window) {
            store.incident_member_normal(&b, &m, &k, now).await?;
        }
        let Some(fresh) = store.incident(incident.id).await? else {
            continue;
        };
        if fresh.active()
            && fresh.all_normal()
            && store
                .set_incident_state(fresh.id, State::Resolved, AUTO_RESOLVER, now)
                .await?
                == Transition::Changed
        {
            notices.push(Notice {
                metric: String::new(),
                event: Event::IncidentResolved {
                    incident: fresh.id,
                    opened_at: fresh.opened_at,
                    at: now,
                    metrics: fresh.metrics(),
                },
            });
            told.insert(fresh.id, (notices.len() - 1, false, Vec::new()));
        }
    }
    let mut parts = vec![Part::Alone; notices.len()];
    for (n, id) in folded {
        parts[n] = Part::Folded(id);
    }
    for (id, (n, opens, with)) in told {
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
