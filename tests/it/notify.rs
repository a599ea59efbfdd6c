//! Alerts that reach people, against real servers on 127.0.0.1: a real SMTP server (aiosmtpd,
//! `tests/support/smtp_sink.py`, installed by `scripts/install_test_deps.sh`), a server that
//! answers Slack's Web API and webhook receivers (`tests/support/receiver.rs`). The alert job
//! runs on a real database; the tests check the messages, routing, silences and isolation.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anomstack::config::{
    BatchJob, ChannelSettings, DatabaseLocation, EmailSettings, Secret, SlackSettings, SmtpTls,
    WebhookSettings,
};
use anomstack::jobs::{self, JobCtx, Trigger, Work};
use anomstack::notify::Notifier;
use anomstack::store::{MetricRow, MetricType, NewSilence, Store};
use chrono::{Duration as Span, Utc};
use serde_json::Value;

use crate::store_local::count;
use crate::support::MetricsDir;
use crate::support::app::spawn_app;
use crate::support::receiver::{Recorded, fake_slack, webhook_receiver};

/// A real SMTP server writing each message it gets as parsed JSON into a folder.
struct SmtpSink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let python = root.join("tests/.venv/bin/python");
        let mut child = Command::new(&python)
            .arg(root.join("tests/support/smtp_sink.py"))
            .arg(port.to_string())
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} (scripts/install_test_deps.sh installs it): {e}",
                    python.display()
                )
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        Self { child, port, dir }
    }

    fn settings(&self, to: &[&str]) -> EmailSettings {
        EmailSettings {
            from: "anomstack <alerts@example.com>".into(),
            to: to.iter().map(|s| s.to_string()).collect(),
            host: "127.0.0.1".into(),
            port: self.port,
            username: "alerts@example.com".into(),
            password: Secret::default(),
            tls: SmtpTls::None,
        }
    }

    /// The messages received so far, parsed.
    fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }
}

/// The text of a received message's part of this MIME type.
fn mail_part(mail: &Value, kind: &str) -> String {
    mail["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} part in {mail}"))["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Site {
    dir: MetricsDir,
    store: Store,
}

/// Batch `n` with metrics `m1` (tagged priority p1), `m2` and `m3`: 60 five-minute points up
/// to an hour ago, each with a newest score of 0.95, so the alert job alerts on all three.
async fn site(extra_yaml: &str) -> Site {
    let dir = MetricsDir::new();
    dir.write(
        "n.yaml",
        &format!(
            "metric_batch: n\ningest_sql: SELECT 1\nalert_smooth_n: 1\nalert_threshold: 0.9\nalert_snooze_n: 0\nmetric_tags:\n  m1: {{priority: p1, team: core}}\n{}{}{}{extra_yaml}",
            // The points end an hour ago: stale, unless a test is about that.
            if extra_yaml.contains("stale_after_n") { "" } else { "stale_after_n: 0\n" },
            // Tests alert run after run on scores that stay high: no re-arming, unless a
            // test is about recovery.
            if extra_yaml.contains("alert_resolve_n") { "" } else { "alert_resolve_n: 0\n" },
            // One message per alert, unless a test is about incidents.
            if extra_yaml.contains("incident_window_minutes") { "" } else { "incident_window_minutes: 0\n" }
        ),
    );
    let store = Store::open(&DatabaseLocation::Local {
        path: dir.tmp.path().join("app.db"),
    })
    .await
    .unwrap();
    // An hour back, so points a test adds later are still in the past.
    let now = Utc::now().naive_utc();
    let end = now - Span::seconds(now.and_utc().timestamp() % 300) - Span::hours(1);
    let mut rows = Vec::new();
    for name in ["m1", "m2", "m3"] {
        for i in 0..60i64 {
            let ts = end - Span::minutes(5 * (59 - i));
            let row = |t, v| MetricRow {
                timestamp: ts,
                batch: "n".into(),
                name: name.into(),
                metric_type: t,
                value: v,
                metadata: String::new(),
            };
            rows.push(row(
                MetricType::Metric,
                10.0 + (i % 5) as f64 + if i == 59 { 25.0 } else { 0.0 },
            ));
            rows.push(row(MetricType::Score, if i == 59 { 0.95 } else { 0.1 }));
        }
    }
    store.upsert_metrics("metrics", &rows).await.unwrap();
    Site { dir, store }
}

impl Site {
    /// A job context on this site's database that sends through `channels`.
    fn ctx(&self, config: &anomstack::config::Config, channels: ChannelSettings) -> JobCtx {
        JobCtx {
            notifier: Some(Arc::new(Notifier::new(channels).unwrap())),
            ..JobCtx::new(self.store.clone(), config.templates.clone(), Utc::now())
        }
    }
}

/// Runs the alert job with these channels; the run's log.
async fn alert(site: &Site, channels: ChannelSettings) -> String {
    let config = site.dir.load_ok(&[]);
    let batch = config.batch("n").unwrap();
    let ctx = site.ctx(&config, channels);
    jobs::run_recorded(&ctx, batch, BatchJob::Alert, Trigger::Cli)
        .await
        .unwrap();
    let result = site
        .store
        .query("SELECT log FROM job_runs ORDER BY id DESC LIMIT 1", "test")
        .await
        .unwrap();
    match &result.rows[0][0] {
        anomstack::store::Value::Text(t) => t.clone(),
        _ => String::new(),
    }
}

fn slack_settings(api: &str) -> SlackSettings {
    SlackSettings {
        bot_token: Some(Secret::new("xoxb-test-token")),
        channel: Some("#alerts".into()),
        webhook_url: None,
        api_url: api.into(),
    }
}

fn webhook_settings(url: &str) -> WebhookSettings {
    WebhookSettings {
        url: Some(Secret::new(url)),
        headers: BTreeMap::from([("X-Team".to_owned(), Secret::new("data"))]),
        secret: Some(Secret::new("hook-secret")),
        template: None,
        tries: 3,
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn decode_png(bytes: &[u8]) -> (u32, u32) {
    let reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    (reader.info().width, reader.info().height)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_email_reaches_a_real_smtp_server_with_text_html_and_a_chart() {
    let site = site("alert_methods: email\n").await;
    let sink = SmtpSink::start();
    let channels = ChannelSettings {
        email: Some(sink.settings(&["ops@example.com", "data@example.com"])),
        ..ChannelSettings::default()
    };
    let log = alert(&site, channels).await;
    assert_eq!(log.matches("sent by email").count(), 3, "{log}");
    wait_for("three emails", || sink.messages().len() == 3);
    let messages = sink.messages();
    let m1 = messages
        .iter()
        .find(|m| m["subject"].as_str().unwrap().contains("[m1]"))
        .unwrap();
    assert_eq!(
        m1["rcpt_tos"],
        serde_json::json!(["ops@example.com", "data@example.com"])
    );
    assert!(
        m1["subject"]
            .as_str()
            .unwrap()
            .starts_with("🔥 [m1] looks anomalous (")
    );
    let parts = m1["parts"].as_array().unwrap();
    let text = parts.iter().find(|p| p["type"] == "text/plain").unwrap()["text"]
        .as_str()
        .unwrap();
    let html = parts.iter().find(|p| p["type"] == "text/html").unwrap()["text"]
        .as_str()
        .unwrap();
    assert!(
        text.contains("value ") && text.contains('█'),
        "a text sparkline: {text}"
    );
    assert!(
        text.contains("priority: p1") && text.contains("alert_type: anomaly"),
        "{text}"
    );
    assert!(
        html.contains("[m1] looks anomalous") && html.contains("src=\"cid:anomstack-chart\""),
        "{html}"
    );
    let images: Vec<&Value> = parts.iter().filter(|p| p["type"] == "image/png").collect();
    assert_eq!(images.len(), 2, "inline and attached");
    assert!(images.iter().any(|p| {
        p["content_id"]
            .as_str()
            .is_some_and(|c| c.contains("anomstack-chart"))
    }));
    let attached = images
        .iter()
        .find(|p| p["disposition"] == "attachment")
        .unwrap();
    assert_eq!(attached["filename"], "m1.png");
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD
        .decode(attached["base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(decode_png(&png), (960, 540));
    assert!(
        png.len() > 15_000 && png.len() < 400_000,
        "{} bytes",
        png.len()
    );
    std::fs::write(screenshots().join("email-chart.png"), &png).unwrap();
    std::fs::write(screenshots().join("email.html"), html).unwrap();
    // Alert rows were saved and the outcomes recorded.
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM metrics WHERE metric_type = 'alert'"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM notifications WHERE channel = 'email' AND status = 'sent'"
        )
        .await,
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_gets_the_chart_through_the_upload_flow() {
    let site = site("alert_methods: slack\n").await;
    let (api, slack) = fake_slack(false).await;
    let channels = ChannelSettings {
        slack: Some(slack_settings(&api)),
        ..ChannelSettings::default()
    };
    let log = alert(&site, channels).await;
    assert_eq!(log.matches("sent by slack").count(), 3, "{log}");
    let calls = slack.all();
    let methods: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    // The channel is looked up once (two pages), then each alert uploads its chart.
    assert_eq!(
        methods
            .iter()
            .filter(|m| **m == "conversations.list")
            .count(),
        2,
        "{methods:?}"
    );
    assert_eq!(
        methods
            .iter()
            .filter(|m| **m == "files.getUploadURLExternal")
            .count(),
        3
    );
    assert_eq!(
        methods.iter().filter(|m| m.starts_with("upload/")).count(),
        3
    );
    assert_eq!(
        methods
            .iter()
            .filter(|m| **m == "files.completeUploadExternal")
            .count(),
        3
    );
    for c in calls.iter().filter(|c| !c.path.starts_with("upload/")) {
        assert_eq!(
            c.header("authorization").as_deref(),
            Some("Bearer xoxb-test-token")
        );
    }
    let get_url = calls
        .iter()
        .find(|c| c.path == "files.getUploadURLExternal")
        .unwrap();
    let upload = calls
        .iter()
        .find(|c| c.path.starts_with("upload/"))
        .unwrap();
    assert_eq!(
        get_url.field("length").unwrap(),
        upload.body.len().to_string()
    );
    assert_eq!(decode_png(&upload.body), (960, 540));
    std::fs::write(screenshots().join("slack-chart.png"), &upload.body).unwrap();
    let complete = calls
        .iter()
        .find(|c| c.path == "files.completeUploadExternal")
        .unwrap();
    assert_eq!(complete.field("channel_id").as_deref(), Some("C000ALERTS1"));
    assert!(
        complete
            .field("initial_comment")
            .unwrap()
            .starts_with("*🔥 [")
    );
    let files: Value = serde_json::from_str(&complete.field("files").unwrap()).unwrap();
    assert_eq!(files[0]["id"], "F123");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_slack_neither_blocks_email_nor_the_alert_rows() {
    let site = site("alert_methods: email,slack\n").await;
    let sink = SmtpSink::start();
    let (api, slack) = fake_slack(true).await;
    let channels = ChannelSettings {
        email: Some(sink.settings(&["ops@example.com"])),
        slack: Some(slack_settings(&api)),
        ..ChannelSettings::default()
    };
    let log = alert(&site, channels).await;
    assert_eq!(log.matches("sent by email").count(), 3, "{log}");
    assert_eq!(log.matches("NOT sent by slack").count(), 3, "{log}");
    assert!(log.contains("HTTP 500"), "{log}");
    assert!(!log.contains("xoxb-test-token"), "no token in the log");
    assert!(!slack.all().is_empty());
    wait_for("three emails", || sink.messages().len() == 3);
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM metrics WHERE metric_type = 'alert'"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM notifications WHERE channel = 'slack' AND status = 'failed'"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM job_runs WHERE status = 'succeeded'"
        )
        .await,
        1,
        "the run itself succeeded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_retried_on_500_and_templated() {
    // alert_max_n: the chart and the payload hold the newest 20 of the 60 points.
    let site = site("alert_methods: webhook\nalert_max_n: 20\n").await;
    let (base, hook) = webhook_receiver(&[500]).await;
    let channels = ChannelSettings {
        webhook: Some(webhook_settings(&format!("{base}/hook"))),
        ..ChannelSettings::default()
    };
    let log = alert(&site, channels).await;
    assert_eq!(log.matches("sent by webhook").count(), 3, "{log}");
    let calls = hook.all();
    assert_eq!(calls.len(), 4, "one 500 retried once");
    for c in &calls {
        let ts = c.header("x-anomstack-timestamp").unwrap();
        let expected = anomstack::notify::webhook::signature("hook-secret", &ts, &c.text());
        assert_eq!(c.header("x-anomstack-signature").unwrap(), expected);
        assert_eq!(c.header("x-team").as_deref(), Some("data"));
        assert_eq!(
            c.header("content-type").as_deref(),
            Some("application/json")
        );
    }
    let body: Value = serde_json::from_str(&calls[0].text()).unwrap();
    assert_eq!(body["source"], "anomstack");
    assert_eq!(body["kind"], "anomaly");
    assert_eq!(body["batch"], "n");
    assert!(body["title"].as_str().unwrap().contains("looks anomalous"));
    assert_eq!(body["threshold"], 0.9);
    assert_eq!(body["points"].as_array().map(Vec::len), Some(20), "{body}");

    // A template (here Discord's shape) replaces the default body.
    let template = site.dir.write(
        "discord.json.j2",
        "{\"content\": {{ title | tojson }}, \"username\": \"anomstack\"}",
    );
    let (base, hook) = webhook_receiver(&[]).await;
    let channels = ChannelSettings {
        webhook: Some(WebhookSettings {
            template: Some(template),
            secret: None,
            ..webhook_settings(&format!("{base}/discord"))
        }),
        ..ChannelSettings::default()
    };
    // New scores so there is something to alert on again.
    bump_scores(&site).await;
    let log = alert(&site, channels).await;
    let calls = hook.all();
    assert_eq!(calls.len(), 3, "{log}");
    let body: Value = serde_json::from_str(&calls[0].text()).unwrap();
    assert!(
        body["content"]
            .as_str()
            .unwrap()
            .contains("looks anomalous"),
        "{body}"
    );
    assert!(calls[0].header("x-anomstack-signature").is_none());

    // A receiver that keeps failing: given up after the tries, recorded as failed.
    let (base, _hook) = webhook_receiver(&[503, 503, 503, 503, 503, 503, 503, 503, 503]).await;
    bump_scores(&site).await;
    let log = alert(
        &site,
        ChannelSettings {
            webhook: Some(webhook_settings(&format!("{base}/x"))),
            ..ChannelSettings::default()
        },
    )
    .await;
    assert!(
        log.contains("HTTP 503 Service Unavailable after 3 tries"),
        "{log}"
    );
}

/// Silences `m3` of batch `n` for the next hour.
async fn silence_m3(site: &Site, comment: &str) {
    let now = Utc::now().naive_utc();
    site.store
        .create_silence(&NewSilence {
            batch: "n".into(),
            metric: "m3".into(),
            comment: comment.into(),
            created_by: "ops".into(),
            starts_at: now,
            ends_at: now + Span::hours(1),
            ..NewSilence::default()
        })
        .await
        .unwrap();
}

/// Adds a newer point with a high score to every metric.
async fn bump_scores(site: &Site) {
    add_point(site, 50.0, 0.97).await;
}

/// Adds a newer point with this value and score to every metric.
async fn add_point(site: &Site, value: f64, score: f64) {
    add_point_to(site, &["m1", "m2", "m3"], value, score).await;
}

/// Adds a point with this value and score to `metrics` of batch `n`, five minutes after the
/// newest point.
async fn add_point_to(site: &Site, metrics: &[&str], value: f64, score: f64) {
    let latest = site
        .store
        .query("SELECT MAX(metric_timestamp) FROM metrics", "t")
        .await
        .unwrap();
    let anomstack::store::Value::Text(t) = &latest.rows[0][0] else {
        panic!()
    };
    let next = anomstack::timestamp::parse_lenient(t).unwrap() + Span::minutes(5);
    let rows: Vec<MetricRow> = metrics
        .iter()
        .flat_map(|m| {
            [(MetricType::Metric, value), (MetricType::Score, score)].map(|(t, v)| MetricRow {
                timestamp: next,
                batch: "n".into(),
                name: (*m).into(),
                metric_type: t,
                value: v,
                metadata: String::new(),
            })
        })
        .collect();
    site.store.upsert_metrics("metrics", &rows).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_routes_choose_the_channel_and_silences_mute_but_keep_the_alert() {
    let (base, hook) = webhook_receiver(&[]).await;
    let routes = format!(
        "routes:\n  - match: {{priority: p1}}\n    methods: [webhook]\n    webhook_url: {base}/pager\n"
    );
    let site = site(&format!("alert_methods: email\n{routes}")).await;
    let sink = SmtpSink::start();
    // m3 is silenced for an hour.
    silence_m3(&site, "known issue").await;
    let channels = ChannelSettings {
        email: Some(sink.settings(&["team@example.com"])),
        webhook: Some(webhook_settings(&format!("{base}/default"))),
        ..ChannelSettings::default()
    };
    let log = alert(&site, channels).await;
    // m1 (p1) pages through the route's webhook only; m2 goes by email; m3 is silenced.
    let calls: Vec<Recorded> = hook.all();
    assert_eq!(calls.len(), 1, "{log}");
    assert_eq!(calls[0].path, "pager");
    assert!(calls[0].text().contains("[m1]"));
    wait_for("one email", || sink.messages().len() == 1);
    assert!(
        sink.messages()[0]["subject"]
            .as_str()
            .unwrap()
            .contains("[m2]")
    );
    assert!(log.contains("silenced by #1"), "{log}");
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM metrics WHERE metric_type = 'alert' AND metric_name = 'm3'"
        )
        .await,
        1,
        "the silenced alert is saved"
    );
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM notifications WHERE metric = 'm3' AND status = 'silenced'"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_fails_for_good_mails_the_failure_address() {
    let dir = MetricsDir::new();
    dir.write(
        "f.yaml",
        "metric_batch: f\ningest_sql: SELECT * FROM no_such_table\n",
    );
    let config = dir.load_ok(&[]);
    let sink = SmtpSink::start();
    // The whole app with its worker (no scheduler: the one job is queued below).
    let env = anomstack::config::EnvVars::from_pairs([("ANOMSTACK_SCHEDULER", "false")]);
    let mut settings = dir.settings(&env);
    settings.database = DatabaseLocation::Local {
        path: dir.tmp.path().join("app.db"),
    };
    settings.channels = ChannelSettings {
        failure_email: Some(sink.settings(&["oncall@example.com"])),
        ..ChannelSettings::default()
    };
    let app = spawn_app(settings, config, env).await;
    let store = app.store.clone();
    // One attempt only, so the first failure is final.
    store
        .enqueue("f", "ingest", "admin", Utc::now(), 1)
        .await
        .unwrap()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.messages().is_empty() {
        assert!(Instant::now() < deadline, "no failure email");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
    let mail = &sink.messages()[0];
    assert_eq!(mail["rcpt_tos"], serde_json::json!(["oncall@example.com"]));
    assert_eq!(mail["subject"], "❌ anomstack: ingest of f failed");
    let text = mail_part(mail, "text/plain");
    assert!(
        text.contains("no_such_table"),
        "the error is in the mail: {text}"
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM notifications WHERE kind = 'failure' AND status = 'sent'"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_summary_goes_to_every_configured_channel() {
    let site = site("").await;
    alert(&site, ChannelSettings::default()).await;
    let (base, hook) = webhook_receiver(&[]).await;
    let sink = SmtpSink::start();
    let config = site.dir.load_ok(&[]);
    let ctx = site.ctx(
        &config,
        ChannelSettings {
            webhook: Some(webhook_settings(&format!("{base}/summary"))),
            email: Some(sink.settings(&["ops@example.com"])),
            ..ChannelSettings::default()
        },
    );
    jobs::run(&ctx, Work::Summary(&config.batches), Trigger::Cli, None)
        .await
        .report()
        .unwrap();
    let calls = hook.all();
    assert_eq!(calls.len(), 1);
    let body: Value = serde_json::from_str(&calls[0].text()).unwrap();
    assert_eq!(body["kind"], "summary");
    assert_eq!(body["title"], "Anomstack Summary");
    assert_eq!(
        body["description"],
        "Most anomalous over the period:\n  n/m1: 1 alert(s)\n  n/m2: 1 alert(s)\n  n/m3: 1 alert(s)"
    );
    // The table as data: a row per metric, every kind of alert counted.
    assert_eq!(
        body["table"]["columns"],
        serde_json::json!([
            "batch", "metric", "latest", "metrics", "scores", "alerts", "changes", "llm", "thold"
        ])
    );
    let rows = body["table"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0][0], "n");
    assert_eq!(rows[0][1], "m1");
    assert_eq!(
        (&rows[0][3], &rows[0][4], &rows[0][5]),
        (&"60".into(), &"60".into(), &"1".into())
    );
    // As text: aligned columns.
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("batch  metric  latest               metrics  scores  alerts"),
        "{text}"
    );
    // By email: a real HTML table.
    wait_for("the summary email", || sink.messages().len() == 1);
    let mail = &sink.messages()[0];
    assert_eq!(mail["subject"], "Anomstack Summary");
    let html = mail["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "text/html")
        .unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        html.contains("<table") && html.contains(">alerts</th>"),
        "{html}"
    );
    for m in ["m1", "m2", "m3"] {
        assert!(html.contains(&format!(">{m}</td>")), "{html}");
    }
    std::fs::write(screenshots().join("summary-email.html"), html).unwrap();
}

fn llm_client(
    base: &str,
    max_calls: u32,
    random_models: &[&str],
) -> Arc<anomstack::llm::LlmClient> {
    Arc::new(
        anomstack::llm::LlmClient::new(anomstack::config::LlmSettings {
            base_url: base.to_owned(),
            api_key: Some(Secret::new("sk-test")),
            random_models: random_models.iter().map(|m| m.to_string()).collect(),
            timeout: Duration::from_secs(1),
            max_calls,
            max_tokens: 1_000_000,
        })
        .unwrap(),
    )
}

async fn llmalert(
    site: &Site,
    llm: Arc<anomstack::llm::LlmClient>,
    hook: &str,
) -> Result<String, String> {
    let config = site.dir.load_ok(&[]);
    let ctx = JobCtx {
        llm: Some(llm),
        ..site.ctx(
            &config,
            ChannelSettings {
                webhook: Some(webhook_settings(hook)),
                ..ChannelSettings::default()
            },
        )
    };
    let batch = config.batch("n").unwrap();
    match jobs::run_recorded(&ctx, batch, BatchJob::Llmalert, Trigger::Cli).await {
        Ok(r) => Ok(r.log.join("\n")),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_alerts_save_explanations_and_survive_bad_answers_and_timeouts() {
    let site =
        site("disable_llmalert: false\nalert_methods: webhook\nllmalert_model: test-model\n").await;
    let (api, llm_log) = crate::support::receiver::fake_openai().await;
    let (base, hook) = webhook_receiver(&[]).await;
    let log = llmalert(&site, llm_client(&api, 50, &[]), &format!("{base}/llm"))
        .await
        .unwrap();
    assert!(
        log.contains("m2: the LLM answer could not be read: the answer is not JSON"),
        "{log}"
    );
    assert!(log.contains("m3: the LLM call failed: timed out"), "{log}");
    // m1: one confirmed anomaly at the newest point, with its explanation; the dropped and the
    // invented ones are not saved.
    let rows = site
        .store
        .query("SELECT metric_name, metric_timestamp, metadata FROM metrics WHERE metric_type = 'llmalert'", "t")
        .await
        .unwrap();
    assert_eq!(rows.rows.len(), 1, "{:?}", rows.rows);
    let anomstack::store::Value::Text(meta) = &rows.rows[0][2] else {
        panic!()
    };
    assert!(meta.contains("sudden jump"), "{meta}");
    let newest = count(&site.store, "SELECT COUNT(*) FROM metrics WHERE metric_type = 'llmalert' AND metric_timestamp = (SELECT MAX(metric_timestamp) FROM metrics WHERE metric_name = 'm1' AND metric_type = 'metric')").await;
    assert_eq!(newest, 1);
    // The message lists the explanation.
    let calls = hook.all();
    assert_eq!(calls.len(), 1, "{log}");
    let body: Value = serde_json::from_str(&calls[0].text()).unwrap();
    assert!(
        body["title"]
            .as_str()
            .unwrap()
            .starts_with("🤖 LLM says [m1] looks anomalous")
    );
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("sudden jump")
    );
    assert_eq!(body["kind"], "llm");
    // The requests: the key, the model, structured output, the real metric name.
    let requests = llm_log.all();
    assert_eq!(requests.len(), 4, "m1 detect + verify, m2, m3");
    for r in &requests {
        assert_eq!(r.header("authorization").as_deref(), Some("Bearer sk-test"));
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(b["model"], "test-model");
        assert_eq!(b["response_format"]["type"], "json_schema");
    }
    assert!(requests.iter().any(|r| r.text().contains("Metric: m1")));
    // Again: the same anomaly is saved again but not re-sent.
    llmalert(&site, llm_client(&api, 50, &[]), &format!("{base}/llm"))
        .await
        .unwrap();
    assert_eq!(
        hook.all().len(),
        1,
        "an anomaly already flagged is not sent twice"
    );
    // A budget of one call stops after it, and says so.
    let log = llmalert(&site, llm_client(&api, 1, &[]), &format!("{base}/llm"))
        .await
        .unwrap();
    assert!(log.contains("budget is spent"), "{log}");
}

/// The user message's parts as sent: its text, and the PNG it carried, if any.
fn llm_user_message(request: &crate::support::receiver::Recorded) -> (String, Option<Vec<u8>>) {
    use base64::Engine;
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    let content = &body["messages"][1]["content"];
    if let Some(text) = content.as_str() {
        return (text.to_owned(), None);
    }
    assert_eq!(content[0]["type"], "text");
    assert_eq!(content[1]["type"], "image_url");
    let url = content[1]["image_url"]["url"].as_str().unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(url.strip_prefix("data:image/png;base64,").unwrap())
        .unwrap();
    (content[0]["text"].as_str().unwrap().to_owned(), Some(png))
}

fn llm_system_prompt(request: &crate::support::receiver::Recorded) -> String {
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    body["messages"][0]["content"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_alerts_show_the_model_a_chart_of_the_points_they_send() {
    let vision =
        site("disable_llmalert: false\nllmalert_model: vision\nllmalert_prompt_max_n: 40\n").await;
    let (api, llm_log) = crate::support::receiver::fake_openai().await;
    llmalert(&vision, llm_client(&api, 50, &[]), "http://127.0.0.1:9/x")
        .await
        .unwrap();
    let requests = llm_log.all();
    assert_eq!(requests.len(), 4, "m1 detect + verify, m2, m3");
    let mut charts = Vec::new();
    for r in &requests {
        let (text, png) = llm_user_message(r);
        let png = png.unwrap_or_else(|| panic!("no chart with {text}"));
        let reader = png::Decoder::new(std::io::Cursor::new(&png))
            .read_info()
            .unwrap();
        assert!(reader.info().width >= 640, "a chart a model can read");
        assert_eq!(text.lines().filter(|l| l.starts_with("20")).count(), 40);
        assert!(llm_system_prompt(r).contains("chart of the series is attached"));
        charts.push(png);
    }
    assert_eq!(charts[0], charts[1], "verification sees the same chart");
    assert_ne!(charts[0], charts[2], "every metric gets its own chart");

    // Turned off: text alone, with the text-only system prompt.
    let text_only =
        site("disable_llmalert: false\nllmalert_model: vision\nllmalert_include_plot: false\n")
            .await;
    let (api, llm_log) = crate::support::receiver::fake_openai().await;
    llmalert(
        &text_only,
        llm_client(&api, 50, &[]),
        "http://127.0.0.1:9/x",
    )
    .await
    .unwrap();
    assert_eq!(llm_log.all().len(), 4);
    for r in &llm_log.all() {
        assert!(llm_user_message(r).1.is_none());
        assert!(!llm_system_prompt(r).contains("chart"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_only_model_that_refuses_the_chart_is_asked_without_it() {
    let site = site("disable_llmalert: false\nllmalert_model: text-only\n").await;
    let (api, llm_log) = crate::support::receiver::fake_openai().await;
    let log = llmalert(&site, llm_client(&api, 50, &[]), "http://127.0.0.1:9/x")
        .await
        .unwrap();
    assert!(
        log.contains("text-only refused the chart (HTTP 400: Invalid content type."),
        "{log}"
    );
    let requests = llm_log.all();
    let with_chart = requests
        .iter()
        .filter(|r| llm_user_message(r).1.is_some())
        .count();
    assert_eq!(with_chart, 1, "only the first call carries a chart");
    assert_eq!(
        requests.len(),
        5,
        "the refused call, then m1 detect + verify, m2, m3"
    );
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM metrics WHERE metric_type = 'llmalert'"
        )
        .await,
        1,
        "m1's anomaly is still found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_prompts_and_a_random_model_reach_the_llm() {
    // The original's legacy key `llmalert_anomaly_agent_system_prompt` is its detection prompt.
    let site = site(
        "disable_llmalert: false\nllmalert_model: random\nllmalert_include_plot: false\n\
         llmalert_anomaly_agent_system_prompt: Flag odd sales only.\n\
         llmalert_anomaly_agent_verification_prompt: Double-check these sales flags.\n",
    )
    .await;
    let (api, llm_log) = crate::support::receiver::fake_openai().await;
    llmalert(
        &site,
        llm_client(&api, 50, &["model-a", "model-b"]),
        "http://127.0.0.1:9/x",
    )
    .await
    .unwrap();
    let requests = llm_log.all();
    assert_eq!(requests.len(), 4);
    let mut models_by_metric = std::collections::BTreeMap::new();
    for r in &requests {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        let model = body["model"].as_str().unwrap().to_owned();
        assert!(["model-a", "model-b"].contains(&model.as_str()), "{model}");
        assert!(llm_system_prompt(r).starts_with("You are an expert"));
        let (text, _) = llm_user_message(r);
        let metric = text
            .lines()
            .find_map(|l| l.strip_prefix("Metric: "))
            .unwrap()
            .to_owned();
        if text.contains("Candidate anomalies") {
            assert!(
                text.starts_with("Double-check these sales flags."),
                "{text}"
            );
        } else {
            assert!(text.starts_with("Flag odd sales only."), "{text}");
        }
        let first = models_by_metric.entry(metric).or_insert(model.clone());
        assert_eq!(*first, model, "one model per metric within a run");
    }

    // `random` with no models to pick from is a configuration error that says what to set.
    let err = llmalert(&site, llm_client(&api, 50, &[]), "http://127.0.0.1:9/x")
        .await
        .unwrap_err();
    assert!(err.contains("ANOMSTACK_LLMALERT_MODELS"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_llmalert_whose_every_call_fails_fails_its_run_only() {
    let site = site("disable_llmalert: false\n").await;
    let llm = llm_client("http://127.0.0.1:9/v1", 50, &[]);
    let err = llmalert(&site, llm, "http://127.0.0.1:9/x")
        .await
        .unwrap_err();
    assert!(err.contains("every LLM call failed"), "{err}");
    assert!(!err.contains("sk-test"));
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM job_runs WHERE job = 'llmalert' AND status = 'failed'"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metric_back_to_normal_is_told_once() {
    let site = site("alert_methods: webhook\nalert_resolve_n: 2\n").await;
    let (base, hook) = webhook_receiver(&[]).await;
    let channels = || ChannelSettings {
        webhook: Some(webhook_settings(&format!("{base}/hook"))),
        ..ChannelSettings::default()
    };
    alert(&site, channels()).await;
    assert_eq!(hook.all().len(), 3, "the three alerts");
    add_point(&site, 11.0, 0.1).await;
    alert(&site, channels()).await;
    assert_eq!(hook.all().len(), 3, "one quiet point is not enough");
    add_point(&site, 12.0, 0.2).await;
    let log = alert(&site, channels()).await;
    let calls = hook.all();
    assert_eq!(calls.len(), 6, "{log}");
    let body: Value = serde_json::from_str(&calls[5].text()).unwrap();
    assert_eq!(body["kind"], "resolved");
    assert!(
        body["title"]
            .as_str()
            .unwrap()
            .contains("is back to normal"),
        "{body}"
    );
    add_point(&site, 12.0, 0.2).await;
    alert(&site, channels()).await;
    assert_eq!(hook.all().len(), 6, "told once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_incoming_webhook_gets_the_text() {
    let site = site("alert_methods: slack\n").await;
    let (base, hook) = webhook_receiver(&[]).await;
    let channels = ChannelSettings {
        slack: Some(SlackSettings {
            bot_token: None,
            channel: None,
            webhook_url: Some(Secret::new(format!("{base}/services/T0/B0/secret"))),
            api_url: "http://127.0.0.1:9".into(),
        }),
        ..ChannelSettings::default()
    };
    let log = alert(&site, channels).await;
    assert_eq!(log.matches("sent by slack").count(), 3, "{log}");
    let calls = hook.all();
    assert_eq!(calls.len(), 3);
    let body: Value = serde_json::from_str(&calls[0].text()).unwrap();
    assert!(
        body["text"].as_str().unwrap().starts_with("*🔥 [m"),
        "{body}"
    );
    assert!(
        !log.contains("services/T0"),
        "the webhook URL (a secret) is not logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_without_file_rights_still_gets_the_text() {
    let site = site("alert_methods: slack\n").await;
    let (api, slack) = crate::support::receiver::fake_slack_without_files().await;
    let channels = ChannelSettings {
        slack: Some(slack_settings(&api)),
        ..ChannelSettings::default()
    };
    let log = alert(&site, channels).await;
    assert_eq!(log.matches("sent by slack").count(), 3, "{log}");
    let posts: Vec<Recorded> = slack
        .all()
        .into_iter()
        .filter(|c| c.path == "chat.postMessage")
        .collect();
    assert_eq!(posts.len(), 3);
    assert_eq!(posts[0].field("channel").as_deref(), Some("C000ALERTS1"));
    assert!(posts[0].field("text").unwrap().starts_with("*🔥 [m"));
}

/// Bodies of the webhook calls so far whose `kind` is `kind`.
fn of_kind(calls: &[Recorded], kind: &str) -> Vec<Value> {
    calls
        .iter()
        .map(|c| serde_json::from_str::<Value>(&c.text()).unwrap())
        .filter(|b| b["kind"] == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metric_that_stops_is_told_stale_once_and_back_to_normal_once() {
    // Five-minute metrics whose newest point is an hour old: twelve intervals, stale after 3.
    let site = site("alert_methods: webhook\nstale_after_n: 3\n").await;
    let (base, hook) = webhook_receiver(&[]).await;
    let channels = || ChannelSettings {
        webhook: Some(webhook_settings(&format!("{base}/hook"))),
        ..ChannelSettings::default()
    };
    // m3 is silenced: its stale alert is kept but not sent.
    silence_m3(&site, "maintenance").await;
    let log = alert(&site, channels()).await;
    let stale = of_kind(&hook.all(), "stale");
    assert_eq!(stale.len(), 2, "{log}");
    let title = stale[0]["title"].as_str().unwrap();
    assert!(title.contains("[m1] has no new data since"), "{title}");
    assert!(
        stale[0]["description"]
            .as_str()
            .unwrap()
            .contains("of its usual intervals (5 min)"),
        "{}",
        stale[0]
    );
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM notifications WHERE metric = 'm3' AND kind = 'stale' AND status = 'silenced'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM freshness WHERE batch = 'n' AND stale = 1"
        )
        .await,
        3
    );
    // Checked again (the next alert run, or an ingest): told once.
    alert(&site, channels()).await;
    assert_eq!(of_kind(&hook.all(), "stale").len(), 2);

    // m1 arrives again: back to normal, once; the others stay stale, untold.
    let fresh = Utc::now().naive_utc() - Span::seconds(5);
    site.store
        .upsert_metrics(
            "metrics",
            &[MetricRow {
                timestamp: fresh,
                batch: "n".into(),
                name: "m1".into(),
                metric_type: MetricType::Metric,
                value: 12.0,
                metadata: String::new(),
            }],
        )
        .await
        .unwrap();
    let log = alert(&site, channels()).await;
    let back = of_kind(&hook.all(), "stale_resolved");
    assert_eq!(back.len(), 1, "{log}");
    assert!(
        back[0]["title"]
            .as_str()
            .unwrap()
            .contains("[m1] has new data again"),
        "{}",
        back[0]
    );
    alert(&site, channels()).await;
    assert_eq!(of_kind(&hook.all(), "stale_resolved").len(), 1);
    assert_eq!(of_kind(&hook.all(), "stale").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_without_rows_for_a_batch_that_usually_has_some_is_a_stale_batch() {
    let dir = MetricsDir::new();
    dir.write(
        "b.yaml",
        "metric_batch: b\nalert_methods: webhook\ningest_sql: SELECT ts AS metric_timestamp, 'm' AS metric_name, v AS metric_value FROM src\n",
    );
    let config = dir.load_ok(&[]);
    let batch = config.batch("b").unwrap();
    let store = Store::open(&DatabaseLocation::Local {
        path: dir.tmp.path().join("app.db"),
    })
    .await
    .unwrap();
    store
        .execute("CREATE TABLE src (ts TEXT, v REAL)", "test")
        .await
        .unwrap();
    let (base, hook) = webhook_receiver(&[]).await;
    let ctx = JobCtx {
        notifier: Some(Arc::new(
            Notifier::new(ChannelSettings {
                webhook: Some(webhook_settings(&format!("{base}/hook"))),
                ..ChannelSettings::default()
            })
            .unwrap(),
        )),
        ..JobCtx::new(store.clone(), config.templates.clone(), Utc::now())
    };
    let try_ingest = |rows: bool| {
        let (store, ctx) = (store.clone(), ctx.clone());
        async move {
            store.execute("DELETE FROM src", "test").await.unwrap();
            if rows {
                let ts = Utc::now().format("%Y-%m-%d %H:%M:%S");
                store
                    .execute(&format!("INSERT INTO src VALUES ('{ts}', 1.0)"), "test")
                    .await
                    .unwrap();
            }
            // A later run time each step, as the scheduler would.
            let at =
                ctx.run_ts + Span::seconds(count(&store, "SELECT count(*) FROM job_runs").await);
            jobs::run_recorded(&ctx.at(at), batch, BatchJob::Ingest, Trigger::Schedule).await
        }
    };
    let ingest = |rows: bool| {
        let run = try_ingest(rows);
        async move { run.await.unwrap() }
    };
    // A new batch whose ingest never returned rows fails, so a broken query is not silent.
    let first = try_ingest(false).await.unwrap_err().to_string();
    assert!(
        first.contains("no earlier ingest of this batch stored any"),
        "{first}"
    );
    for _ in 0..3 {
        ingest(true).await;
    }
    assert!(of_kind(&hook.all(), "stale").is_empty());
    let report = ingest(false).await;
    assert!(
        report.log.iter().any(|l| l == "ingest returned no rows"),
        "{:?}",
        report.log
    );
    let stale = of_kind(&hook.all(), "stale");
    assert_eq!(stale.len(), 1);
    assert!(
        stale[0]["title"]
            .as_str()
            .unwrap()
            .contains("ingest returned no rows"),
        "{}",
        stale[0]
    );
    assert_eq!(stale[0]["batch"], "b");
    // Stays stale while empty, even once empty runs are most of the recent history.
    for _ in 0..8 {
        ingest(false).await;
    }
    assert_eq!(of_kind(&hook.all(), "stale").len(), 1, "told once");
    assert!(of_kind(&hook.all(), "stale_resolved").is_empty());
    ingest(true).await;
    let back = of_kind(&hook.all(), "stale_resolved");
    assert_eq!(back.len(), 1);
    assert!(
        back[0]["title"]
            .as_str()
            .unwrap()
            .contains("ingest returns rows again")
    );
}

/// How many 👍 and 👎 a metric of batch `n` has.
async fn verdicts_of(site: &Site, metric: &str) -> (i64, i64) {
    let n = |kind: &str| {
        format!(
            "SELECT COUNT(*) FROM metrics WHERE metric_name = '{metric}' AND metric_type = '{kind}'"
        )
    };
    (
        count(&site.store, &n("thumbsup")).await,
        count(&site.store, &n("thumbsdown")).await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_links_record_one_verdict_without_a_login_and_refuse_forged_expired_and_reused_ones()
{
    use anomstack::config::{LinkSettings, LiveConfig};
    use anomstack::feedback_link::{Claim, LinkKey, mint, new_nonce, verify};
    use anomstack::store::Feedback;
    use axum::http::StatusCode;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use crate::admin::{Client, hidden};

    let site = site("alert_methods: email,webhook\n").await;
    let sink = SmtpSink::start();
    let (base, hook) = webhook_receiver(&[]).await;
    let channels = ChannelSettings {
        email: Some(sink.settings(&["ops@example.com"])),
        webhook: Some(webhook_settings(&format!("{base}/hook"))),
        links: Some(LinkSettings {
            public_url: "https://alerts.example.com".into(),
            valid_days: 7,
        }),
        ..ChannelSettings::default()
    };
    let log = alert(&site, channels).await;
    assert_eq!(log.matches("sent by email").count(), 3, "{log}");
    wait_for("three emails", || sink.messages().len() == 3);
    let messages = sink.messages();
    let m2 = messages
        .iter()
        .find(|m| m["subject"].as_str().unwrap().contains("[m2]"))
        .unwrap();
    let (text, html) = (mail_part(m2, "text/plain"), mail_part(m2, "text/html"));
    // The path of the link after `label` in the text body.
    let link = |label: &str| {
        let line = text
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no `{label}` line in:\n{text}"));
        line.strip_prefix(&format!("{label}https://alerts.example.com"))
            .unwrap()
            .to_owned()
    };
    let (up, down) = (link("Useful? "), link("Not useful? "));
    assert!(down.starts_with("/feedback/") && up != down, "{up} {down}");
    assert!(
        html.contains(&format!("href=\"https://alerts.example.com{down}\"")),
        "{html}"
    );
    let hooked: Vec<Value> = hook
        .all()
        .iter()
        .map(|c| serde_json::from_str(&c.text()).unwrap())
        .collect();
    assert!(
        hooked.iter().all(|b| b["feedback"]["not_useful"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://alerts.example.com/feedback/"))),
        "{hooked:?}"
    );

    let config = site.dir.load_ok(&[]);
    let state = anomstack::web::AppState::new(site.store.clone(), LiveConfig::fixed(config));
    let mut browser = Client::new(&state);
    // Opening the link (as a mail scanner would) records nothing: it asks.
    let page = browser.get(&down).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Record 👎 not useful") && page.body.contains("<strong>m2</strong>"),
        "{}",
        page.body
    );
    assert_eq!(page.headers["cache-control"], "no-store");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert_eq!(verdicts_of(&site, "m2").await, (0, 0));
    assert!(
        page.headers.get("set-cookie").is_none(),
        "no cookie: one would replace the CSRF cookie of open dashboard tabs"
    );
    let confirm = hidden(&page.body, "confirm");
    let cross_site = browser.post(&down, &[("confirm", "forged")]).await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    assert_eq!(verdicts_of(&site, "m2").await, (0, 0));
    let done = browser.post(&down, &[("confirm", &confirm)]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body.contains("Thanks: recorded 👎 not useful"),
        "{}",
        done.body
    );
    assert_eq!(verdicts_of(&site, "m2").await, (0, 1));
    // Replayed: the link was spent.
    let again = browser.post(&down, &[("confirm", &confirm)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(again.body.contains("already used"), "{}", again.body);
    let reopened = browser.get(&down).await;
    assert_eq!(reopened.status, StatusCode::CONFLICT, "{}", reopened.body);
    // The other link of the message is a change of mind; its page's confirmation is its own.
    let other = browser.get(&up).await;
    let wrong = browser.post(&up, &[("confirm", &confirm)]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let changed = browser
        .post(&up, &[("confirm", &hidden(&other.body, "confirm"))])
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(verdicts_of(&site, "m2").await, (1, 0));

    // Forged: m2's signature on a payload naming m1; a token signed with another key.
    let token = down.trim_start_matches("/feedback/");
    let (payload, mac) = token.split_once('.').unwrap();
    let mut claim: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claim["m"] = "m1".into();
    let swapped = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claim).unwrap());
    let now = Utc::now();
    let key = LinkKey::new(site.store.link_key(now.naive_utc()).await.unwrap());
    let genuine = verify(&key, token, now.timestamp()).unwrap();
    let other_key = mint(
        &LinkKey::new(vec![1; 32]),
        &Claim {
            metric: "m1".into(),
            ..genuine.clone()
        },
    );
    for forged in [format!("{swapped}.{mac}"), other_key] {
        let r = browser.get(&format!("/feedback/{forged}")).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert!(r.body.contains("not made by this server"), "{}", r.body);
        let r = browser
            .post(&format!("/feedback/{forged}"), &[("confirm", &confirm)])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    // Cut short when copied.
    let r = browser.get(&down[..down.len() - 20]).await;
    assert!(r.status == StatusCode::FORBIDDEN || r.status == StatusCode::BAD_REQUEST);
    assert_eq!(verdicts_of(&site, "m1").await, (0, 0));
    // Genuine but expired an hour ago.
    let expired = mint(
        &key,
        &Claim {
            metric: "m3".into(),
            verdict: Feedback::Down,
            expires: now.timestamp() - 3600,
            nonce: new_nonce(),
            ..genuine
        },
    );
    let r = browser.get(&format!("/feedback/{expired}")).await;
    assert_eq!(r.status, StatusCode::GONE, "{}", r.body);
    assert!(r.body.contains("expired on"), "{}", r.body);
    let r = browser
        .post(&format!("/feedback/{expired}"), &[("confirm", &confirm)])
        .await;
    assert_eq!(r.status, StatusCode::GONE);
    assert_eq!(verdicts_of(&site, "m3").await, (0, 0));
}

/// Batch `n` with one metric `busy`, scored every 5 minutes for `points` points up to now: a
/// spike (value 30 against 10) every `every` points, at one of 20 score levels from 0.90 to
/// 0.999 in turn, above the batch's threshold 0.9.
async fn busy_site(extra_yaml: &str, points: i64, every: i64) -> Site {
    let dir = MetricsDir::new();
    dir.write(
        "n.yaml",
        &format!(
            "metric_batch: n\ningest_sql: SELECT 1\nalert_methods: webhook\nalert_smooth_n: 1\nalert_threshold: 0.9\nalert_snooze_n: 0\nalert_recent_n: 300\nalert_max_n: 300\nstale_after_n: 0\nincident_window_minutes: 0\n{}{extra_yaml}",
            if extra_yaml.contains("alert_resolve_n") { "" } else { "alert_resolve_n: 0\n" }
        ),
    );
    let store = Store::open(&DatabaseLocation::Local {
        path: dir.tmp.path().join("app.db"),
    })
    .await
    .unwrap();
    // An hour back, so a point a test adds later is still in the past.
    let now = Utc::now().naive_utc();
    let end = now - Span::seconds(now.and_utc().timestamp() % 300) - Span::hours(1);
    let mut rows = Vec::new();
    for i in 0..points {
        let ts = end - Span::minutes(5 * (points - 1 - i));
        let spike = i % every == every - 1;
        let level = ((i / every) % 20) as f64;
        let row = |t, v| MetricRow {
            timestamp: ts,
            batch: "n".into(),
            name: "busy".into(),
            metric_type: t,
            value: v,
            metadata: String::new(),
        };
        rows.push(row(MetricType::Metric, if spike { 30.0 } else { 10.0 }));
        rows.push(row(
            MetricType::Score,
            if spike {
                0.9 + 0.099 * level / 19.0
            } else {
                0.1
            },
        ));
    }
    store.upsert_metrics("metrics", &rows).await.unwrap();
    Site { dir, store }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_budget_raises_the_threshold_of_a_metric_that_would_alert_20_times_a_day() {
    // Eight days of points, a spike every 14: about 20 a day over the threshold.
    let unbudgeted = busy_site("", 8 * 288, 14).await;
    let (base, hook) = webhook_receiver(&[]).await;
    let webhook = || ChannelSettings {
        webhook: Some(webhook_settings(&format!("{base}/hook"))),
        ..ChannelSettings::default()
    };
    alert(&unbudgeted, webhook()).await;
    let without = hook.all().len();
    assert!(
        (19..=23).contains(&without),
        "{without} alerts in the newest 300 points"
    );

    let site = busy_site("alert_budget: 2/day\n", 8 * 288, 14).await;
    let (base, hook) = webhook_receiver(&[]).await;
    let log = alert(
        &site,
        ChannelSettings {
            webhook: Some(webhook_settings(&format!("{base}/hook"))),
            ..ChannelSettings::default()
        },
    )
    .await;
    let sent = hook.all().len();
    assert!((1..=2).contains(&sent), "{sent} sent: {log}");
    // The calibration, not the cap, kept it in budget: nothing was held back.
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM metrics WHERE metric_type = 'alert'"
        )
        .await,
        sent as i64
    );
    let state = site
        .store
        .budget_threshold("n", "busy")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((state.budget.as_str(), state.configured), ("2/day", 0.9));
    assert!(state.threshold > 0.99, "{state:?}");
    let body: Value = serde_json::from_str(&hook.all()[0].text()).unwrap();
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains(&format!("(threshold {})", state.threshold)),
        "the alert says the threshold it crossed: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_over_budget_are_saved_marked_shown_and_sent_in_the_summary() {
    use anomstack::config::LiveConfig;
    use axum::http::StatusCode;

    use crate::admin::Client;

    // Six hours of points, too little history to calibrate: the cap alone keeps the budget.
    let site = busy_site("alert_budget: 2/day\n", 72, 3).await;
    let (base, hook) = webhook_receiver(&[]).await;
    let channels = || ChannelSettings {
        webhook: Some(webhook_settings(&format!("{base}/hook"))),
        ..ChannelSettings::default()
    };
    let log = alert(&site, channels()).await;
    assert!(
        log.contains("24 alert(s), 22 of them over the alert budget"),
        "{log}"
    );
    let calls = hook.all();
    assert_eq!(calls.len(), 2, "{log}");
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM metrics WHERE metric_type = 'alert' AND metadata LIKE '%over_budget%'"
        )
        .await,
        22
    );
    // The two sent are the oldest: the budget is spent in time order.
    let oldest = site
        .store
        .query(
            "SELECT metric_timestamp FROM metrics WHERE metric_type = 'alert' ORDER BY metric_timestamp LIMIT 2",
            "t",
        )
        .await
        .unwrap();
    for (call, row) in calls.iter().zip(&oldest.rows) {
        let anomstack::store::Value::Text(t) = &row[0] else {
            panic!()
        };
        let body: Value = serde_json::from_str(&call.text()).unwrap();
        assert!(
            body["title"].as_str().unwrap().contains(&t[..16]),
            "{} for {t}",
            body["title"]
        );
    }

    // A new spike later in the same day is held too.
    add_busy_spike(&site).await;
    let log = alert(&site, channels()).await;
    assert!(
        log.contains("1 alert(s), 1 of them over the alert budget"),
        "{log}"
    );
    assert_eq!(hook.all().len(), 2);

    // Shown: marked on the anomaly list.
    let config = site.dir.load_ok(&[]);
    let state =
        anomstack::web::AppState::new(site.store.clone(), LiveConfig::fixed(config.clone()));
    let mut browser = Client::new(&state);
    let page = browser.get("/batch/n/anomalies").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.matches(">over budget</span>").count() >= 10,
        "{}",
        page.body
    );
    let metric = browser.get("/batch/n/metric/busy").await;
    assert!(
        metric.body.contains("At most 2/day ML alerts"),
        "{}",
        metric.body
    );

    // Sent in the daily summary.
    let ctx = site.ctx(&config, channels());
    jobs::run(&ctx, Work::Summary(&config.batches), Trigger::Cli, None)
        .await
        .report()
        .unwrap();
    let summary: Value = serde_json::from_str(&hook.all()[2].text()).unwrap();
    assert_eq!(summary["kind"], "summary");
    let text = summary["description"].as_str().unwrap();
    assert!(
        text.contains("Held back by alert budgets (23, not sent at the time):\n  n/busy at "),
        "{text}"
    );
}

/// A spike on `busy`, five minutes after its newest point.
async fn add_busy_spike(site: &Site) {
    add_busy_point(site, 30.0, 0.97).await;
}

/// A point on `busy` with this value and score, five minutes after its newest point.
async fn add_busy_point(site: &Site, value: f64, score: f64) {
    add_point_to(site, &["busy"], value, score).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_held_by_the_budget_gets_no_back_to_normal_notice() {
    let site = busy_site("alert_budget: 1/day\nalert_resolve_n: 2\n", 12, 6).await;
    // The day's budget was spent an hour before these points.
    let first = site
        .store
        .query("SELECT MIN(metric_timestamp) FROM metrics", "t")
        .await
        .unwrap();
    let anomstack::store::Value::Text(t) = &first.rows[0][0] else {
        panic!()
    };
    let sent = anomstack::timestamp::parse_lenient(t).unwrap() - Span::hours(1);
    site.store
        .upsert_metrics(
            "metrics",
            &[MetricRow {
                timestamp: sent,
                batch: "n".into(),
                name: "busy".into(),
                metric_type: MetricType::Alert,
                value: 1.0,
                metadata: String::new(),
            }],
        )
        .await
        .unwrap();
    let (base, hook) = webhook_receiver(&[]).await;
    let channels = || ChannelSettings {
        webhook: Some(webhook_settings(&format!("{base}/hook"))),
        ..ChannelSettings::default()
    };
    let log = alert(&site, channels()).await;
    assert!(
        log.contains("2 alert(s), 2 of them over the alert budget"),
        "{log}"
    );
    // Back to normal for longer than alert_resolve_n: nothing to tell, nobody was told.
    for _ in 0..3 {
        add_busy_point(&site, 10.0, 0.1).await;
    }
    let log = alert(&site, channels()).await;
    assert!(log.contains("no new anomalies"), "{log}");
    assert!(hook.all().is_empty(), "{:?}", hook.all().len());
}

/// Adds metric `name` to batch `n`: the same 60 quiet points as the others, up to the newest.
async fn add_quiet_metric(site: &Site, name: &str) {
    let times = site
        .store
        .query(
            "SELECT DISTINCT metric_timestamp FROM metrics WHERE metric_name = 'm1' ORDER BY 1",
            "t",
        )
        .await
        .unwrap();
    let rows: Vec<MetricRow> = times
        .rows
        .iter()
        .flat_map(|r| {
            let anomstack::store::Value::Text(t) = &r[0] else {
                panic!()
            };
            let ts = anomstack::timestamp::parse_lenient(t).unwrap();
            [(MetricType::Metric, 11.0), (MetricType::Score, 0.1)].map(|(k, v)| MetricRow {
                timestamp: ts,
                batch: "n".into(),
                name: name.into(),
                metric_type: k,
                value: v,
                metadata: String::new(),
            })
        })
        .collect();
    site.store.upsert_metrics("metrics", &rows).await.unwrap();
}

/// The incident messages a Slack bot posted: (method, form fields).
fn slack_posts(slack: &crate::support::receiver::Log) -> Vec<(String, Vec<(String, String)>)> {
    slack
        .all()
        .iter()
        .filter(|c| c.path == "chat.postMessage" || c.path == "files.completeUploadExternal")
        .map(|c| (c.path.clone(), c.form()))
        .collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn related_alerts_make_one_incident_told_once_then_on_its_thread_and_resolved_once() {
    use anomstack::config::{LinkSettings, LiveConfig};
    use axum::http::StatusCode;

    use crate::admin::{Client, hidden};

    let site = site(
        "alert_methods: email,slack,webhook\nincident_window_minutes: 30\nalert_resolve_n: 1\n",
    )
    .await;
    add_quiet_metric(&site, "m4").await;
    let sink = SmtpSink::start();
    let (api, slack) = fake_slack(false).await;
    let (base, hook) = webhook_receiver(&[]).await;
    let channels = ChannelSettings {
        email: Some(sink.settings(&["ops@example.com"])),
        slack: Some(slack_settings(&api)),
        webhook: Some(webhook_settings(&format!("{base}/hook"))),
        links: Some(LinkSettings {
            public_url: "https://alerts.example.com".into(),
            valid_days: 7,
        }),
        ..ChannelSettings::default()
    };
    let hooks = || -> Vec<Value> {
        hook.all()
            .iter()
            .map(|c| serde_json::from_str(&c.text()).unwrap())
            .collect()
    };

    // m1, m2 and m3 alert in the same run: one incident, one message per channel.
    let log = alert(&site, channels.clone()).await;
    assert_eq!(log.matches("sent by email").count(), 1, "{log}");
    assert_eq!(log.matches("in incident #1").count(), 2, "{log}");
    wait_for("the incident's email", || !sink.messages().is_empty());
    let first = sink.messages()[0].clone();
    let subject = first["subject"].as_str().unwrap().to_owned();
    assert!(subject.starts_with("[incident #1] 🔥 [m1]"), "{subject}");
    let root_id = first["message_id"].as_str().unwrap().to_owned();
    assert!(root_id.starts_with("<incident.") && root_id.ends_with("@anomstack>"));
    let text = mail_part(&first, "text/plain");
    assert!(text.contains("Also in this message: m2, m3."), "{text}");
    assert!(text.contains("Incident #1: m1, m2, m3."), "{text}");
    assert!(
        text.contains("Follow it: https://alerts.example.com/incidents/1"),
        "{text}"
    );
    let link = |label: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no `{label}` in {text}"))
            .strip_prefix("https://alerts.example.com")
            .unwrap()
            .to_owned()
    };
    let (ack, resolve) = (link("Acknowledge: "), link("Resolve: "));
    let posts = slack_posts(&slack);
    assert_eq!(posts[0].0, "chat.postMessage");
    assert_eq!(
        field(&posts[0].1, "thread_ts"),
        None,
        "the thread's first message"
    );
    assert!(
        field(&posts[0].1, "text")
            .unwrap()
            .contains("Incident #1: m1, m2, m3")
    );
    let root_ts = slack
        .all()
        .iter()
        .position(|c| c.path == "chat.postMessage")
        .map(|n| format!("1700000000.{:06}", n + 1))
        .unwrap();
    assert_eq!(
        posts[1].0, "files.completeUploadExternal",
        "the chart, in the thread"
    );
    assert_eq!(field(&posts[1].1, "thread_ts"), Some(root_ts.as_str()));
    let sent = hooks();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["incident_id"], 1);
    assert_eq!(sent[0]["incident"]["event"], "opened");
    assert_eq!(sent[0]["incident"]["with"], serde_json::json!(["m2", "m3"]));
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM notifications WHERE status = 'grouped'"
        )
        .await,
        2
    );

    // m4 alerts a run later: it joins, told on the thread of every channel.
    add_point_to(&site, &["m4"], 60.0, 0.97).await;
    let log = alert(&site, channels.clone()).await;
    assert_eq!(log.matches("sent by").count(), 3, "{log}");
    wait_for("the update's email", || sink.messages().len() == 2);
    let update = sink.messages()[1].clone();
    assert_eq!(
        update["subject"].as_str().unwrap(),
        format!("Re: {subject}"),
        "answers the first"
    );
    assert_eq!(update["in_reply_to"].as_str(), Some(root_id.as_str()));
    assert_eq!(update["references"].as_str(), Some(root_id.as_str()));
    let posts = slack_posts(&slack);
    let joined = &posts[2..];
    assert!(!joined.is_empty());
    for (method, form) in joined {
        assert_eq!(field(form, "thread_ts"), Some(root_ts.as_str()), "{method}");
    }
    let sent = hooks();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["incident_id"], 1);
    assert_eq!(sent[1]["incident"]["event"], "updated");
    assert_eq!(sent[1]["metric"], "m4");
    assert_eq!(
        sent[1]["incident"]["metrics"],
        serde_json::json!(["m1", "m2", "m3", "m4"])
    );

    // The first message's "acknowledge" link, opened and confirmed.
    let config = site.dir.load_ok(&[]);
    let state = anomstack::web::AppState::new(site.store.clone(), LiveConfig::fixed(config));
    let mut browser = Client::new(&state);
    let page = browser.get(&ack).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Acknowledge incident #1"),
        "{}",
        page.body
    );
    let forged = browser.post(&ack, &[("confirm", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let done = browser
        .post(&ack, &[("confirm", &hidden(&page.body, "confirm"))])
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body.contains("Incident #1 is acknowledged"),
        "{}",
        done.body
    );
    let incident = site.store.incident(1).await.unwrap().unwrap();
    assert_eq!(incident.state, anomstack::incident::State::Acknowledged);
    assert_eq!(
        incident.acknowledged.as_ref().unwrap().1,
        "someone with the alert's link"
    );

    // Every metric back to normal: no message per metric, one for the incident.
    add_point_to(&site, &["m1", "m2", "m3", "m4"], 12.0, 0.1).await;
    let log = alert(&site, channels.clone()).await;
    assert_eq!(log.matches("sent by").count(), 3, "{log}");
    assert_eq!(log.matches("in incident #1: ✅").count(), 4, "{log}");
    wait_for("the resolution's email", || sink.messages().len() == 3);
    let resolved = sink.messages()[2].clone();
    assert_eq!(
        resolved["subject"].as_str().unwrap(),
        format!("Re: {subject}")
    );
    assert_eq!(resolved["in_reply_to"].as_str(), Some(root_id.as_str()));
    let sent = hooks();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[2]["kind"], "incident_resolved");
    assert_eq!(sent[2]["incident"]["event"], "resolved");
    assert!(
        sent[2]["title"]
            .as_str()
            .unwrap()
            .contains("[incident #1] every metric is back to normal"),
        "{}",
        sent[2]
    );
    let posts = slack_posts(&slack);
    let last = posts.last().unwrap();
    assert_eq!(field(&last.1, "thread_ts"), Some(root_ts.as_str()));
    let incident = site.store.incident(1).await.unwrap().unwrap();
    assert_eq!(incident.state, anomstack::incident::State::Resolved);
    assert_eq!(
        incident.resolved.as_ref().unwrap().1,
        anomstack::jobs::AUTO_RESOLVER
    );

    // Nothing more to say.
    let log = alert(&site, channels).await;
    assert_eq!(log.matches("sent by").count(), 0, "{log}");
    assert_eq!(hooks().len(), 3);
    // The "resolve" link of the first message finds it resolved already.
    let page = browser.get(&resolve).await;
    let done = browser
        .post(&resolve, &[("confirm", &hidden(&page.body, "confirm"))])
        .await;
    assert!(
        done.body
            .contains("Incident #1 was already resolved (by anomstack"),
        "{}",
        done.body
    );
    let timeline: Vec<String> = site
        .store
        .incident_events(1)
        .await
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e.event, e.metric))
        .collect();
    assert_eq!(
        timeline,
        [
            "opened m1",
            "joined m2",
            "joined m3",
            "joined m4",
            "acknowledged ",
            "normal m1",
            "normal m2",
            "normal m3",
            "normal m4",
            "resolved "
        ]
    );
}
