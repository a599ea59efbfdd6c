//! Everything that decides how alerts leave the app: silences (which alerts are muted),
//! routing by tags (which channels and recipients), the message with its chart, and the
//! channels themselves (`email`, `slack`, `webhook`). A failing channel or metric never stops
//! the others; every outcome is recorded in `notifications` and returned for the run's log.

pub mod email;
pub mod message;
mod notice;
pub mod route;
pub mod silence;
pub mod slack;
pub mod thread;
pub mod webhook;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;

use crate::charts::png::{alert_png, draw_in_background};
use crate::config::{AlertMethod, Batch, ChannelSettings};
use crate::detect::smoothed_scores;
use crate::feedback_link::{Claim, LinkKey, mint, new_nonce};
use crate::incident::{Incident, State};
use crate::incident_link::IncidentClaim;
use crate::store::Feedback;
use crate::store::{NotificationRecord, Store, Window};
use message::{FeedbackLinks, IncidentInfo, Message};
use thread::{Part, Telling};

/// Longest a single channel may take for one message.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest one job's delivery may take in all; the rest of its messages are dropped and logged.
pub const DELIVERY_DEADLINE: Duration = Duration::from_secs(300);
/// Most points drawn in an alert's chart, whatever `alert_max_n` asks (a PNG 1000 px wide).
const MAX_CHART_POINTS: usize = 5000;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("email: {0}")]
    Email(String),
    #[error("slack: {0}")]
    Slack(String),
    #[error("webhook: {0}")]
    Webhook(String),
    #[error("cannot start the HTTP client: {0}")]
    Client(String),
    #[error("{0}: no answer within {1} s")]
    TimedOut(&'static str, u64),
}

/// The configured channels and what they share (an HTTP client, Slack channel ids).
pub struct Notifier {
    channels: ChannelSettings,
    http: reqwest::Client,
    slack_ids: slack::ChannelIds,
}

pub use crate::http::tls_ready;
pub use notice::{Event, Notice, Table};

/// One HTTP client for every channel; TLS with rustls on ring and the system's certificates.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, NotifyError> {
    crate::http::client(timeout).map_err(|e| NotifyError::Client(e.to_string()))
}

impl Notifier {
    pub fn new(channels: ChannelSettings) -> Result<Self, NotifyError> {
        Ok(Self {
            channels,
            http: http_client(Duration::from_secs(30))?,
            slack_ids: slack::ChannelIds::default(),
        })
    }

    fn configured(&self, method: AlertMethod) -> bool {
        match method {
            AlertMethod::Email => self.channels.email.is_some(),
            AlertMethod::Slack => self.channels.slack.is_some(),
            AlertMethod::Webhook => self.channels.webhook.is_some(),
        }
    }

    /// Sends a job's notices (of `batch`, or of every batch for the summary) and records the
    /// outcomes; one log line per message and channel.
    pub async fn deliver(
        &self,
        store: &Store,
        batch: Option<&Batch>,
        notices: &[Notice],
        parts: &[Part],
        run_id: Option<i64>,
    ) -> Vec<String> {
        let mut log = Vec::new();
        let mut records = Vec::new();
        let now = Utc::now().naive_utc();
        let silences = match store.silences(now, false).await {
            Ok(s) => s,
            Err(e) => {
                log.push(format!("cannot read silences, sending anyway: {e}"));
                Vec::new()
            }
        };
        let batch_name = batch.map_or("*", Batch::name);
        let mut unconfigured = Vec::new();
        let mut key = None;
        for (n, notice) in notices.iter().enumerate() {
            let part = parts.get(n).unwrap_or(&Part::Alone);
            let record = |channel: &str, status: &str, error: Option<String>| NotificationRecord {
                run_id,
                batch: batch_name.to_owned(),
                metric: notice.metric.clone(),
                kind: notice.kind().to_owned(),
                channel: channel.to_owned(),
                status: status.to_owned(),
                error,
            };
            if let Part::Folded(id) = part {
                log.push(format!("in incident #{id}: {}", notice.title()));
                records.push(record("*", "grouped", Some(format!("incident #{id}"))));
                continue;
            }
            let mut msg = self.message(batch, notice);
            if let (Some(b), Some(at)) = (batch, notice.anomaly_at()) {
                msg.feedback = self
                    .feedback_links(store, &mut key, b.name(), &notice.metric, at, &mut log)
                    .await;
            }
            if let Part::Tells(telling) = part {
                msg.incident = Some(self.incident_info(store, &mut key, telling, &mut log).await);
                let id = telling.incident.id;
                msg.title = match &notice.event {
                    Event::IncidentResolved { .. } => msg.title,
                    _ if !telling.opens && crate::incident::groups(notice.kind()) => {
                        format!("[incident #{id}] joins: {}", msg.title)
                    }
                    _ => format!("[incident #{id}] {}", msg.title),
                };
            }
            if let Some(s) =
                silence::silencing(&silences, batch_name, &notice.metric, &msg.tags, now)
            {
                log.push(format!("silenced by #{}: {}", s.id, notice.title()));
                records.push(record("*", "silenced", Some(format!("silence #{}", s.id))));
                continue;
            }
            let plan = match batch {
                // An incident's messages keep to the routes of the alert that opened it.
                Some(b) => match part {
                    Part::Tells(t) => incident_plan(b, &t.incident, notice, &msg),
                    _ => route::plan(&b.spec, notice.kind(), &msg.tags),
                },
                // The summary goes to every configured channel, as the original's did.
                None => route::Plan {
                    methods: vec![AlertMethod::Email, AlertMethod::Slack, AlertMethod::Webhook],
                    ..route::Plan::default()
                },
            };
            let methods: Vec<AlertMethod> = plan
                .methods
                .iter()
                .copied()
                .filter(|m| {
                    let ok = self.configured(*m)
                        || (*m == AlertMethod::Webhook && plan.webhook_url.is_some());
                    if !ok && batch.is_some() && !unconfigured.contains(m) {
                        unconfigured.push(*m);
                    }
                    ok
                })
                .collect();
            if methods.is_empty() {
                if let Part::Tells(t) = part {
                    // The alerts folded into it are not told either: say so.
                    log.push(format!(
                        "incident #{}: no configured channel for this {} message",
                        t.incident.id,
                        notice.kind()
                    ));
                }
                continue;
            }
            // Every channel gets the recent points (the webhook payload carries them); only
            // email and Slack get a drawing.
            let wants_chart = methods.iter().any(|m| *m != AlertMethod::Webhook);
            let chart = match batch {
                Some(b) if !notice.metric.is_empty() => {
                    if self.points(store, b, &mut msg, &mut log).await && wants_chart {
                        self.chart(b, &msg, &mut log).await
                    } else {
                        None
                    }
                }
                _ => None,
            };
            let sends = methods.iter().map(|m| {
                let msg = &msg;
                let chart = chart.as_deref();
                let plan = &plan;
                async move {
                    let work = self.send(*m, plan, msg, chart);
                    let result = match tokio::time::timeout(SEND_TIMEOUT, work).await {
                        Ok(r) => r,
                        Err(_) => Err(NotifyError::TimedOut(m.as_str(), SEND_TIMEOUT.as_secs())),
                    };
                    (*m, result)
                }
            });
            for (method, result) in futures::future::join_all(sends).await {
                match result {
                    Ok(thread) => {
                        if let (Some((channel, ts)), Part::Tells(t)) = (thread, part)
                            && let Err(e) = store
                                .record_incident_thread(t.incident.id, &channel, &ts)
                                .await
                        {
                            log.push(format!("cannot remember the incident's Slack thread: {e}"));
                        }
                        log.push(format!("sent by {}: {}", method.as_str(), notice.title()));
                        records.push(record(method.as_str(), "sent", None));
                    }
                    Err(e) => {
                        tracing::warn!(batch = batch_name, metric = notice.metric, channel = method.as_str(), error = %e, "alert not delivered");
                        log.push(format!(
                            "NOT sent by {}: {} ({e})",
                            method.as_str(),
                            notice.title()
                        ));
                        records.push(record(method.as_str(), "failed", Some(e.to_string())));
                    }
                }
            }
        }
        for m in unconfigured {
            log.push(format!(
                "{} is in this batch's alert methods but not configured (see .example.env)",
                m.as_str()
            ));
        }
        if let Err(e) = store.record_notifications(&records).await {
            log.push(format!("cannot record notifications: {e}"));
        }
        log
    }

    /// Mails a job's final failure to `ANOMSTACK_FAILURE_EMAIL_TO` (when configured) and
    /// records it; the original sent these from a Dagster sensor.
    pub async fn job_failed(&self, store: &Store, batch: &str, job: &str, error: &str) {
        let Some(settings) = &self.channels.failure_email else {
            return;
        };
        let msg = Message {
            kind: "failure".into(),
            batch: batch.to_owned(),
            metric: String::new(),
            title: format!("❌ anomstack: {job} of {batch} failed"),
            description: error.to_owned(),
            tags: BTreeMap::from([
                ("metric_batch".to_owned(), batch.to_owned()),
                ("job".to_owned(), job.to_owned()),
            ]),
            points: Vec::new(),
            threshold: None,
            score_label: String::new(),
            table: None,
            feedback: None,
            incident: None,
        };
        let outcome = match tokio::time::timeout(
            SEND_TIMEOUT,
            email::send(settings, &settings.to, &msg, None),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(NotifyError::Email(
                "the SMTP server did not answer in time".into(),
            )),
        };
        let (status, error) = match outcome {
            Ok(()) => ("sent", None),
            Err(e) => {
                tracing::warn!(batch, job, error = %e, "cannot send the job failure email");
                ("failed", Some(e.to_string()))
            }
        };
        let record = NotificationRecord {
            run_id: None,
            batch: batch.to_owned(),
            metric: String::new(),
            kind: "failure".into(),
            channel: "email".into(),
            status: status.into(),
            error,
        };
        if let Err(e) = store.record_notifications(&[record]).await {
            tracing::warn!(error = %e, "cannot record a notification");
        }
    }

    fn message(&self, batch: Option<&Batch>, notice: &Notice) -> Message {
        let tags = route::alert_tags(batch, notice);
        let (threshold, score_label) = match (batch, notice.kind()) {
            (Some(b), "change") => (Some(b.spec.change_threshold), "change score"),
            (Some(b), "anomaly" | "llm") => (Some(b.spec.alert_threshold), "anomaly score"),
            _ => (None, "anomaly score"),
        };
        Message {
            kind: notice.kind().to_owned(),
            batch: batch.map_or("*", Batch::name).to_owned(),
            metric: notice.metric.clone(),
            title: notice.title(),
            description: notice.description(),
            tags,
            points: Vec::new(),
            threshold,
            score_label: score_label.to_owned(),
            table: notice.table().cloned(),
            feedback: None,
            incident: None,
        }
    }

    /// The signed links that record a verdict on `metric`'s alert at `at`, when the app has a
    /// public address. The key is read once per delivery (`key`); without it, messages go
    /// without links.
    async fn feedback_links(
        &self,
        store: &Store,
        key: &mut Option<Option<LinkKey>>,
        batch: &str,
        metric: &str,
        at: chrono::NaiveDateTime,
        log: &mut Vec<String>,
    ) -> Option<FeedbackLinks> {
        let settings = self.channels.links.as_ref()?;
        let key = self.link_key(store, key, log).await?;
        let expires = link_expiry(settings);
        let link = |verdict| {
            let claim = Claim {
                batch: batch.to_owned(),
                metric: metric.to_owned(),
                at,
                verdict,
                expires,
                nonce: new_nonce(),
            };
            format!("{}/feedback/{}", settings.public_url, mint(key, &claim))
        };
        Some(FeedbackLinks {
            useful: link(Feedback::Up),
            not_useful: link(Feedback::Down),
        })
    }

    /// The signing key of links, read once per delivery (`key`); none when the app has no
    /// public address or the key cannot be read (messages then go without links).
    async fn link_key<'k>(
        &self,
        store: &Store,
        key: &'k mut Option<Option<LinkKey>>,
        log: &mut Vec<String>,
    ) -> Option<&'k LinkKey> {
        self.channels.links.as_ref()?;
        if key.is_none() {
            *key = Some(match store.link_key(Utc::now().naive_utc()).await {
                Ok(bytes) => Some(LinkKey::new(bytes)),
                Err(e) => {
                    log.push(format!("alerts go without signed links: {e}"));
                    None
                }
            });
        }
        key.as_ref()?.as_ref()
    }

    /// What a message of `telling` says of its incident: its metrics, its page, and on the
    /// first message the links that acknowledge and resolve it.
    async fn incident_info(
        &self,
        store: &Store,
        key: &mut Option<Option<LinkKey>>,
        telling: &Telling,
        log: &mut Vec<String>,
    ) -> IncidentInfo {
        let incident = &telling.incident;
        let public = self.channels.links.as_ref();
        let page = public.map(|l| format!("{}/incidents/{}", l.public_url, incident.id));
        let (mut acknowledge, mut resolve) = (None, None);
        if telling.opens
            && let Some(settings) = public
            && let Some(key) = self.link_key(store, key, log).await
        {
            let expires = link_expiry(settings);
            let link = |to| {
                let claim = IncidentClaim {
                    incident: incident.id,
                    to,
                    expires,
                };
                format!(
                    "{}/incident-link/{}",
                    settings.public_url,
                    crate::incident_link::mint(key, &claim)
                )
            };
            acknowledge = Some(link(State::Acknowledged));
            resolve = Some(link(State::Resolved));
        }
        IncidentInfo {
            id: incident.id,
            opens: telling.opens,
            subject: incident.title.clone(),
            metrics: incident.metrics(),
            with: telling.with.clone(),
            page,
            acknowledge,
            resolve,
            email_message_id: incident.email_message_id.clone(),
            slack_threads: incident.slack_threads.clone(),
        }
    }

    /// Reads the metric's newest `alert_max_n` points into `msg`; false when they cannot be read.
    async fn points(
        &self,
        store: &Store,
        batch: &Batch,
        msg: &mut Message,
        log: &mut Vec<String>,
    ) -> bool {
        let points = store
            .dashboard_series(
                &batch.spec.table_key,
                batch.name(),
                &msg.metric,
                Window::Last(batch.spec.alert_max_n.clamp(1, MAX_CHART_POINTS)),
                Utc::now().naive_utc(),
                None,
            )
            .await;
        match points {
            Ok(p) => {
                msg.points = p;
                true
            }
            Err(e) => {
                log.push(format!("no chart for {}: {e}", msg.metric));
                false
            }
        }
    }

    /// Draws `msg`'s points as a PNG.
    async fn chart(&self, batch: &Batch, msg: &Message, log: &mut Vec<String>) -> Option<Vec<u8>> {
        // The original draws change alerts' values smoothed over `change_smooth_n`, dashed.
        let smooth_n = batch.spec.change_smooth_n;
        let value_smooth = if msg.kind == "change" && smooth_n > 1 {
            let values: Vec<f64> = msg
                .points
                .iter()
                .map(|p| p.value.unwrap_or(f64::NAN))
                .collect();
            smoothed_scores(&values, smooth_n)
        } else {
            Vec::new()
        };
        let (title, points, threshold, label) = (
            msg.metric.clone(),
            msg.points.clone(),
            msg.threshold,
            msg.score_label.clone(),
        );
        let drawn = draw_in_background(move || {
            alert_png(&title, &points, threshold, &label, &value_smooth)
        })
        .await;
        drawn
            .map_err(|e| log.push(format!("no chart for {}: {e}", msg.metric)))
            .ok()
    }

    /// Sends `msg` by `method`; the Slack thread it started, if it started one.
    async fn send(
        &self,
        method: AlertMethod,
        plan: &route::Plan,
        msg: &Message,
        chart: Option<&[u8]>,
    ) -> Result<Option<(String, String)>, NotifyError> {
        match method {
            AlertMethod::Email => {
                let Some(settings) = &self.channels.email else {
                    return Err(NotifyError::Email("not configured".into()));
                };
                let to = plan.email_to.as_deref().unwrap_or(&settings.to);
                email::send(settings, to, msg, chart).await.map(|()| None)
            }
            AlertMethod::Slack => {
                let Some(settings) = &self.channels.slack else {
                    return Err(NotifyError::Slack("not configured".into()));
                };
                slack::send(
                    &self.http,
                    settings,
                    &self.slack_ids,
                    plan.slack_channel.as_deref(),
                    msg,
                    chart,
                )
                .await
            }
            AlertMethod::Webhook => {
                // A route's URL works without a global webhook: plain JSON, default tries.
                let plain = crate::config::WebhookSettings {
                    url: None,
                    headers: BTreeMap::new(),
                    secret: None,
                    template: None,
                    tries: 3,
                };
                let settings = self.channels.webhook.as_ref().unwrap_or(&plain);
                let Some(url) = plan
                    .webhook_url
                    .as_deref()
                    .or(settings.url.as_ref().map(|u| u.expose()))
                else {
                    return Err(NotifyError::Webhook("no URL".into()));
                };
                webhook::send(&self.http, settings, url, msg)
                    .await
                    .map(|()| None)
            }
        }
    }
}

/// The routes of an incident's messages: those matching the tags of the alert that opened it,
/// so the thread stays with the same people; the methods are those of the message's own kind
/// (the resolution: the opener's).
fn incident_plan(
    batch: &Batch,
    incident: &Incident,
    notice: &Notice,
    msg: &Message,
) -> route::Plan {
    let Some(first) = incident.members.first() else {
        return route::plan(&batch.spec, notice.kind(), &msg.tags);
    };
    let mut tags = first.tags.clone();
    tags.insert("metric_batch".to_owned(), first.batch.clone());
    if !first.metric.is_empty() {
        tags.insert("metric_name".to_owned(), first.metric.clone());
    }
    tags.insert("alert_type".to_owned(), first.kind.clone());
    let kind = match notice.event {
        Event::IncidentResolved { .. } => first.kind.as_str(),
        _ => notice.kind(),
    };
    route::plan(&batch.spec, kind, &tags)
}

/// When a link made now stops working (unix seconds).
fn link_expiry(settings: &crate::config::LinkSettings) -> i64 {
    Utc::now().timestamp() + i64::from(settings.valid_days) * 86_400
}
