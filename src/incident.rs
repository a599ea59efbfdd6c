//! Incidents: alerts that belong together, told once and followed to their end.
//!
//! An alert (ML anomaly, threshold, change, LLM or stale) joins the active incident of its
//! batch, or one holding a metric that shares one of its `metric_tags` (`team: growth`) in any
//! batch, when that incident had an alert within `incident_window_minutes`; otherwise it opens
//! one. A member is back to normal when its own "back to normal" notice comes (ML anomalies
//! with `alert_resolve_n`, stale metrics) or, for kinds that have none, when it raised no alert
//! for a whole window; an incident whose members are all back to normal resolves itself. The
//! rules here are pure; `jobs::incidents` applies them and `store::incidents` keeps them.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDateTime};

/// Where an incident is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Open,
    Acknowledged,
    Resolved,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Acknowledged => "acknowledged",
            State::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        match s {
            "open" => Some(State::Open),
            "acknowledged" => Some(State::Acknowledged),
            "resolved" => Some(State::Resolved),
            _ => None,
        }
    }
}

/// How a member comes back to normal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// With its "back to normal" (or "has new data again") notice.
    Notice,
    /// After a window without a new alert: change, threshold and LLM alerts have no notice of
    /// their own, nor ML alerts when `alert_resolve_n` is 0.
    Quiet,
}

impl Recovery {
    pub fn as_str(self) -> &'static str {
        match self {
            Recovery::Notice => "notice",
            Recovery::Quiet => "quiet",
        }
    }

    pub fn parse(s: &str) -> Recovery {
        if s == "notice" {
            Recovery::Notice
        } else {
            Recovery::Quiet
        }
    }

    /// How a member of alert `kind` recovers; `resolves` says whether the batch sends "back to
    /// normal" notices for ML alerts (`alert_resolve_n` above 0).
    pub fn of(kind: &str, resolves: bool) -> Recovery {
        match kind {
            "stale" => Recovery::Notice,
            "anomaly" if resolves => Recovery::Notice,
            _ => Recovery::Quiet,
        }
    }
}

/// The notice kind that brings a member of `kind` back to normal, if any.
pub fn recovering_kind(notice_kind: &str) -> Option<&'static str> {
    match notice_kind {
        "resolved" => Some("anomaly"),
        "stale_resolved" => Some("stale"),
        _ => None,
    }
}

/// Whether alerts of this kind open or join incidents.
pub fn groups(kind: &str) -> bool {
    matches!(kind, "anomaly" | "change" | "threshold" | "llm" | "stale")
}

/// One metric and kind of alert in an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub batch: String,
    pub metric: String,
    pub kind: String,
    pub tags: BTreeMap<String, String>,
    /// The flagged point's time of its first and newest alert.
    pub first_at: NaiveDateTime,
    pub last_at: NaiveDateTime,
    pub alerts: u32,
    pub joined_at: NaiveDateTime,
    /// When it last raised an alert (wall clock).
    pub last_alert_at: NaiveDateTime,
    pub recovery: Recovery,
    pub normal_at: Option<NaiveDateTime>,
}

/// An incident as stored, with its members.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub id: i64,
    pub batch: String,
    pub title: String,
    pub state: State,
    pub opened_at: NaiveDateTime,
    pub last_alert_at: NaiveDateTime,
    pub acknowledged: Option<(NaiveDateTime, String)>,
    pub resolved: Option<(NaiveDateTime, String)>,
    pub email_message_id: String,
    /// Slack channel id → the ts of the thread's first message there.
    pub slack_threads: BTreeMap<String, String>,
    pub members: Vec<Member>,
}

impl Incident {
    pub fn active(&self) -> bool {
        self.state != State::Resolved
    }

    /// Its metrics, each once, in the order they joined.
    pub fn metrics(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in &self.members {
            let name = member_label(&m.batch, &m.metric, &self.batch);
            if !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }

    /// The incident as the API and the MCP tools give it.
    pub fn json(&self) -> serde_json::Value {
        let stamp = |t: NaiveDateTime| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let by = |x: &Option<(NaiveDateTime, String)>| {
            x.as_ref()
                .map(|(at, who)| serde_json::json!({"at": stamp(*at), "by": who}))
        };
        serde_json::json!({
            "id": self.id,
            "state": self.state.as_str(),
            "batch": self.batch,
            "title": self.title,
            "opened_at": stamp(self.opened_at),
            "last_alert_at": stamp(self.last_alert_at),
            "acknowledged": by(&self.acknowledged),
            "resolved": by(&self.resolved),
            "metrics": self.members.iter().map(|m| serde_json::json!({
                "batch": m.batch,
                "metric": m.metric,
                "kind": m.kind,
                "alerts": m.alerts,
                "first_flagged": stamp(m.first_at),
                "last_flagged": stamp(m.last_at),
                "back_to_normal": m.normal_at.map(stamp),
            })).collect::<Vec<_>>(),
        })
    }

    /// Whether every member is back to normal.
    pub fn all_normal(&self) -> bool {
        !self.members.is_empty() && self.members.iter().all(|m| m.normal_at.is_some())
    }
}

/// A metric as an incident names it: bare in the incident's own batch, `batch/metric` in
/// another, `(ingest)` for a batch-wide stale alert.
pub fn member_label(batch: &str, metric: &str, home: &str) -> String {
    let metric = if metric.is_empty() {
        "(ingest)"
    } else {
        metric
    };
    if batch == home {
        metric.to_owned()
    } else {
        format!("{batch}/{metric}")
    }
}

/// An alert about to be told.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    pub batch: &'a str,
    pub tags: &'a BTreeMap<String, String>,
}

/// The active incident an alert raised at `now` joins, if any: one of its batch, or one with
/// a member sharing one of its tags, with an alert within `window`; the most recently alerted
/// first.
pub fn joins(
    active: &[Incident],
    arrival: Arrival<'_>,
    now: NaiveDateTime,
    window: Duration,
) -> Option<i64> {
    active
        .iter()
        .filter(|i| i.active() && now - i.last_alert_at <= window)
        .filter(|i| {
            i.batch == arrival.batch
                || i.members.iter().any(|m| {
                    m.batch == arrival.batch
                        || m.tags
                            .iter()
                            .any(|(k, v)| arrival.tags.get(k).is_some_and(|w| w == v))
                })
        })
        .max_by_key(|i| (i.last_alert_at, i.id))
        .map(|i| i.id)
}

/// Members of `incident` that have been quiet for a whole window and count as back to normal
/// at `now`: (batch, metric, kind).
pub fn quiet_members(
    incident: &Incident,
    now: NaiveDateTime,
    window: Duration,
) -> Vec<(String, String, String)> {
    incident
        .members
        .iter()
        .filter(|m| {
            m.recovery == Recovery::Quiet
                && m.normal_at.is_none()
                && now - m.last_alert_at >= window
        })
        .map(|m| (m.batch.clone(), m.metric.clone(), m.kind.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::parse_lenient;

    fn t(s: &str) -> NaiveDateTime {
        parse_lenient(s).unwrap()
    }

    fn member(batch: &str, metric: &str, tags: &[(&str, &str)]) -> Member {
        Member {
            batch: batch.into(),
            metric: metric.into(),
            kind: "anomaly".into(),
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            first_at: t("2026-12-01 10:00"),
            last_at: t("2026-12-01 10:00"),
            alerts: 1,
            joined_at: t("2026-12-01 10:00"),
            last_alert_at: t("2026-12-01 10:00"),
            recovery: Recovery::Quiet,
            normal_at: None,
        }
    }

    fn incident(id: i64, batch: &str, last: &str, members: Vec<Member>) -> Incident {
        Incident {
            id,
            batch: batch.into(),
            title: String::new(),
            state: State::Open,
            opened_at: t("2026-12-01 10:00"),
            last_alert_at: t(last),
            acknowledged: None,
            resolved: None,
            email_message_id: String::new(),
            slack_threads: BTreeMap::new(),
            members,
        }
    }

    #[test]
    fn an_alert_joins_its_batch_or_a_shared_tag_within_the_window() {
        let window = Duration::minutes(30);
        let none = BTreeMap::new();
        let growth: BTreeMap<String, String> = [("team".to_owned(), "growth".to_owned())].into();
        let active = vec![
            incident(
                1,
                "shop",
                "2026-12-01 10:00",
                vec![member("shop", "orders", &[])],
            ),
            incident(
                2,
                "ads",
                "2026-12-01 10:10",
                vec![member("ads", "clicks", &[("team", "growth")])],
            ),
        ];
        let shop = Arrival {
            batch: "shop",
            tags: &none,
        };
        assert_eq!(joins(&active, shop, t("2026-12-01 10:20"), window), Some(1));
        assert_eq!(
            joins(&active, shop, t("2026-12-01 10:31"), window),
            None,
            "the window has passed"
        );
        let web = Arrival {
            batch: "web",
            tags: &growth,
        };
        assert_eq!(
            joins(&active, web, t("2026-12-01 10:20"), window),
            Some(2),
            "another batch, the same team"
        );
        let other: BTreeMap<String, String> = [("team".to_owned(), "core".to_owned())].into();
        let web_core = Arrival {
            batch: "web",
            tags: &other,
        };
        assert_eq!(
            joins(&active, web_core, t("2026-12-01 10:20"), window),
            None
        );
        let mut resolved = active.clone();
        resolved[0].state = State::Resolved;
        assert_eq!(
            joins(&resolved, shop, t("2026-12-01 10:20"), window),
            None,
            "a resolved incident takes no one"
        );
    }

    #[test]
    fn the_most_recently_alerted_incident_wins() {
        let none = BTreeMap::new();
        let active = vec![
            incident(1, "shop", "2026-12-01 10:00", vec![]),
            incident(2, "shop", "2026-12-01 10:05", vec![]),
        ];
        let shop = Arrival {
            batch: "shop",
            tags: &none,
        };
        assert_eq!(
            joins(&active, shop, t("2026-12-01 10:10"), Duration::minutes(30)),
            Some(2)
        );
    }

    #[test]
    fn members_without_a_notice_of_their_own_recover_after_a_quiet_window() {
        let mut quiet = member("shop", "orders", &[]);
        quiet.kind = "threshold".into();
        let mut waits = member("shop", "visits", &[]);
        waits.recovery = Recovery::Notice;
        let i = incident(1, "shop", "2026-12-01 10:00", vec![quiet, waits]);
        let window = Duration::minutes(30);
        assert!(quiet_members(&i, t("2026-12-01 10:29"), window).is_empty());
        assert_eq!(
            quiet_members(&i, t("2026-12-01 10:30"), window),
            vec![("shop".into(), "orders".into(), "threshold".into())]
        );
        assert!(!i.all_normal());
        assert_eq!(Recovery::of("anomaly", true), Recovery::Notice);
        assert_eq!(Recovery::of("anomaly", false), Recovery::Quiet);
        assert_eq!(Recovery::of("change", true), Recovery::Quiet);
        assert_eq!(Recovery::of("stale", false), Recovery::Notice);
    }

    #[test]
    fn labels_name_other_batches() {
        assert_eq!(member_label("shop", "orders", "shop"), "orders");
        assert_eq!(member_label("ads", "clicks", "shop"), "ads/clicks");
        assert_eq!(member_label("shop", "", "shop"), "(ingest)");
    }
}
