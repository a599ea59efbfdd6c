//! The MCP server through rmcp's own client: over streamable HTTP against the real app on
//! 127.0.0.1 (tokens and their scopes, every read tool on seeded data with a spike, the write
//! tools), and over stdio against the real binary.

use anomstack::config::EnvVars;
use anomstack::store::{MetricRow, MetricType, Store, TokenScope};
use anomstack::web::secret_id::digest;
use chrono::{Duration, NaiveDateTime, Timelike, Utc};
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ServiceError, ServiceExt};
use serde_json::{Value, json};

use crate::support::MetricsDir;
use crate::support::app::{QUIET, TestApp, spawn_app};

const SHOP: &str = "metric_batch: shop\ningest_sql: SELECT 1\nalert_threshold: 0.8\nalert_smooth_n: 1\nalert_snooze_n: 0\nalert_resolve_n: 0\nalert_min_rel_change: 0\nmetric_tags:\n  orders:\n    team: growth\n";
const ADS: &str =
    "metric_batch: ads\ningest_sql: SELECT 1\nmetric_tags:\n  clicks:\n    team: growth\n";
/// Points per metric, five minutes apart, the newest five minutes ago.
const N: i64 = 200;
/// The spike of `orders`: three points from here, the first alerted.
const SPIKE: i64 = 190;

fn iso(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

struct Seeded {
    dir: MetricsDir,
    /// Time of point i.
    t0: NaiveDateTime,
}

impl Seeded {
    fn at(&self, i: i64) -> NaiveDateTime {
        self.t0 + Duration::minutes(5 * i)
    }
}

fn row(t: NaiveDateTime, batch: &str, name: &str, kind: MetricType, value: f64) -> MetricRow {
    MetricRow {
        timestamp: t,
        batch: batch.into(),
        name: name.into(),
        metric_type: kind,
        value,
        metadata: String::new(),
    }
}

/// Batches `shop` (orders, visits) and `ads` (clicks, tagged like orders): `orders` jumps
/// from about 102 to 300, 280, 260 at SPIKE (scores 0.95, 0.9, 0.85; an ML alert on the first)
/// and scored 0.6 and 0.7 twice before; `visits` scored 0.9 the point after the spike began;
/// `clicks` alerted then.
async fn seed(store: &Store, dir: MetricsDir) -> Seeded {
    let now = Utc::now().naive_utc().with_second(0).unwrap();
    let t0 = now - Duration::minutes(5 * N);
    let s = Seeded { dir, t0 };
    let mut rows = Vec::new();
    for i in 0..N {
        let t = s.at(i);
        let base = 100.0 + (i % 5) as f64;
        let (value, score) = match i - SPIKE {
            0 => (300.0, 0.95),
            1 => (280.0, 0.9),
            2 => (260.0, 0.85),
            _ if i == 50 => (base, 0.6),
            _ if i == 120 => (base, 0.7),
            _ => (base, 0.1 + 0.01 * (i % 5) as f64),
        };
        rows.push(row(t, "shop", "orders", MetricType::Metric, value));
        rows.push(row(t, "shop", "orders", MetricType::Score, score));
        let visits_score = if i == SPIKE + 1 { 0.9 } else { 0.2 };
        rows.push(row(t, "shop", "visits", MetricType::Metric, 50.0));
        rows.push(row(t, "shop", "visits", MetricType::Score, visits_score));
        rows.push(row(t, "ads", "clicks", MetricType::Metric, 7.0));
        rows.push(row(t, "ads", "clicks", MetricType::Score, 0.3));
    }
    rows.push(row(s.at(SPIKE), "shop", "orders", MetricType::Alert, 1.0));
    rows.push(row(
        s.at(SPIKE + 1),
        "ads",
        "clicks",
        MetricType::Alert,
        1.0,
    ));
    store.upsert_metrics("metrics", &rows).await.unwrap();
    s
}

async fn app() -> (TestApp, Seeded) {
    let dir = MetricsDir::new();
    dir.write("shop.yaml", SHOP);
    dir.write("ads.yaml", ADS);
    let env = EnvVars::from_pairs(QUIET);
    let mut settings = dir.settings(&env);
    settings.database = anomstack::config::DatabaseLocation::Local {
        path: dir.tmp.path().join("app.db"),
    };
    let config = anomstack::config::load(&settings, &env).unwrap();
    assert!(config.is_valid(), "{}", config.problems());
    let app = spawn_app(settings, config, env).await;
    let seeded = seed(&app.store, dir).await;
    (app, seeded)
}

/// A live token of `scope` named `name`.
async fn token(store: &Store, name: &str, scope: TokenScope) -> String {
    let token = format!("ask_{name}_0123456789abcdef0123456789abcdef");
    store
        .create_api_token(
            name,
            &digest(&token),
            &token[..10],
            scope,
            Utc::now().naive_utc(),
        )
        .await
        .unwrap();
    token
}

async fn connect(base: &str, token: &str) -> RunningService<RoleClient, ()> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")).auth_header(token),
    );
    ().serve(transport).await.expect("the MCP client connects")
}

async fn call(
    client: &RunningService<RoleClient, ()>,
    tool: &str,
    args: Value,
) -> Result<Value, ServiceError> {
    let args = match args {
        Value::Object(m) => m,
        _ => panic!("arguments are an object"),
    };
    let result = client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
        .await?;
    let text = result.content[0]
        .as_text()
        .expect("text content")
        .text
        .clone();
    assert_ne!(result.is_error, Some(true), "{tool}: {text}");
    Ok(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{tool}: {e}: {text}")))
}

async fn tool_names(client: &RunningService<RoleClient, ()>) -> Vec<String> {
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_over_http_needs_a_token_before_anything() {
    let (app, _seeded) = app().await;
    let http = reqwest::Client::new();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    for auth in [None, Some("Bearer ask_not_a_real_token")] {
        let mut req = http
            .post(format!("{}/mcp", app.base))
            .header("accept", "application/json, text/event-stream")
            .json(&init);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        assert!(r.headers().contains_key("www-authenticate"));
        assert!(!r.text().await.unwrap().contains("ask_not_a_real_token"));
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_token_lists_and_runs_the_read_tools_on_real_data() {
    let (app, s) = app().await;
    let read = token(&app.store, "assistant", TokenScope::Read).await;
    let client = connect(&app.base, &read).await;

    let names = tool_names(&client).await;
    assert_eq!(
        names,
        [
            "backtest_metric",
            "explain_anomaly",
            "list_anomalies",
            "list_batches",
            "list_incidents",
            "list_metrics",
            "read_series"
        ],
        "no write tool for a read token"
    );

    let batches = call(&client, "list_batches", json!({})).await.unwrap();
    let shop = batches["batches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "shop")
        .unwrap();
    assert_eq!(shop["metrics"], 2);
    assert_eq!(shop["tags"]["orders"]["team"], "growth");

    let metrics = call(&client, "list_metrics", json!({"batch": "shop"}))
        .await
        .unwrap();
    let orders = &metrics["metrics"][0];
    assert_eq!(orders["name"], "orders");
    assert_eq!(orders["last_alert"], iso(s.at(SPIKE)));
    assert_eq!(orders["value"], 100.0 + ((N - 1) % 5) as f64);

    let series = call(
        &client,
        "read_series",
        json!({"batch": "shop", "metric": "orders", "last_n": 15}),
    )
    .await
    .unwrap();
    let points = series["points"].as_array().unwrap();
    assert_eq!(points.len(), 15);
    let spike = points
        .iter()
        .find(|p| p["t"] == iso(s.at(SPIKE)))
        .expect("the spike is among the newest 15");
    assert_eq!(spike["value"], 300.0);
    assert_eq!(spike["alert"], true);

    let anomalies = call(&client, "list_anomalies", json!({})).await.unwrap();
    let found: Vec<(String, String)> = anomalies["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["metric"].as_str().unwrap().to_owned(),
                a["at"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("clicks".to_owned(), iso(s.at(SPIKE + 1))),
            ("orders".to_owned(), iso(s.at(SPIKE)))
        ],
        "newest first, across batches"
    );

    let why = call(
        &client,
        "explain_anomaly",
        json!({"batch": "shop", "metric": "orders"}),
    )
    .await
    .unwrap();
    assert_eq!(why["at"], iso(s.at(SPIKE)));
    assert_eq!(why["episode"]["start"], iso(s.at(SPIKE)));
    assert_eq!(why["episode"]["points"], 3);
    assert_eq!(why["episode"]["duration_seconds"], 600);
    assert_eq!(why["episode"]["still_open"], false);
    let expected = why["magnitude"]["expected"].as_f64().unwrap();
    assert!((100.0..=104.0).contains(&expected), "{why}");
    assert!(why["magnitude"]["deviation"].as_f64().unwrap() > 190.0);
    assert_eq!(why["magnitude"]["direction"], "up");
    assert_eq!(why["score"]["threshold"], 0.8);
    let together: Vec<&str> = why["moved_together"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["metric"].as_str().unwrap())
        .collect();
    assert_eq!(together, ["visits", "clicks"], "{why}");

    let backtest = |threshold: f64| {
        call(
            &client,
            "backtest_metric",
            json!({"batch": "shop", "metric": "orders", "overrides": {"alert_threshold": threshold}}),
        )
    };
    let low = backtest(0.5).await.unwrap();
    let high = backtest(0.99).await.unwrap();
    assert_eq!(low["would_alert"]["count"], 5, "{low}");
    assert_eq!(high["would_alert"]["count"], 0, "{high}");
    assert_eq!(low["actually_alerted"]["count"], 1);
    assert_eq!(high["only_actual"][0], iso(s.at(SPIKE)));

    // The spike and the tagged clicks made one incident.
    let id = open_incident(&app.store, &s).await;
    let incidents = call(&client, "list_incidents", json!({})).await.unwrap();
    assert_eq!(incidents["incidents"][0]["id"], id);
    assert_eq!(incidents["incidents"][0]["state"], "open");
    let members: Vec<&str> = incidents["incidents"][0]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["metric"].as_str().unwrap())
        .collect();
    assert_eq!(members, ["orders", "clicks"]);
    let why = call(
        &client,
        "explain_anomaly",
        json!({"batch": "shop", "metric": "orders"}),
    )
    .await
    .unwrap();
    assert_eq!(why["incident"]["id"], id, "{why}");
    let none = call(&client, "list_incidents", json!({"state": "resolved"}))
        .await
        .unwrap();
    assert_eq!(none["incidents"], json!([]));
    let refused = call(&client, "acknowledge_incident", json!({"incident": id}))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("write-scoped token"),
        "{refused}"
    );

    // A write tool is refused with an MCP error, and nothing is written.
    let refused = call(
        &client,
        "give_feedback",
        json!({"batch": "shop", "metric": "orders", "at": iso(s.at(SPIKE)), "verdict": "useful"}),
    )
    .await
    .unwrap_err();
    assert!(
        refused.to_string().contains("write-scoped token"),
        "{refused}"
    );
    let verdicts = app
        .store
        .verdicts("metrics", "shop", Some("orders"))
        .await
        .unwrap();
    assert!(verdicts.is_empty());

    client.cancel().await.unwrap();
    drop(s.dir);
    app.stop().await;
}

/// Opens the incident the spike of `orders` and the alert of `clicks` (tagged alike) make; its id.
async fn open_incident(store: &Store, s: &Seeded) -> i64 {
    use anomstack::incident::Recovery;
    use anomstack::store::NewMember;
    let member = |batch: &str, metric: &str, at| NewMember {
        batch: batch.into(),
        metric: metric.into(),
        kind: "anomaly".into(),
        tags: [("team".to_owned(), "growth".to_owned())].into(),
        at,
        recovery: Recovery::Quiet,
    };
    let now = Utc::now().naive_utc();
    let id = store
        .open_incident(
            "🔥 [orders]",
            "<o@anomstack>",
            &member("shop", "orders", s.at(SPIKE)),
            now,
        )
        .await
        .unwrap();
    store
        .join_incident(id, &member("ads", "clicks", s.at(SPIKE + 1)), now)
        .await
        .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_token_gives_feedback_and_silences() {
    let (app, s) = app().await;
    let write = token(&app.store, "fixer", TokenScope::Write).await;
    let client = connect(&app.base, &write).await;
    let names = tool_names(&client).await;
    assert!(
        names.contains(&"give_feedback".to_owned()) && names.contains(&"add_silence".to_owned())
    );

    let at = iso(s.at(SPIKE));
    call(
        &client,
        "give_feedback",
        json!({"batch": "shop", "metric": "orders", "at": at, "verdict": "useful"}),
    )
    .await
    .unwrap();
    let anomalies = call(&client, "list_anomalies", json!({"batch": "shop"}))
        .await
        .unwrap();
    assert_eq!(
        anomalies["anomalies"][0]["feedback"], "useful",
        "{anomalies}"
    );
    let why = call(
        &client,
        "explain_anomaly",
        json!({"batch": "shop", "metric": "orders", "at": at}),
    )
    .await
    .unwrap();
    assert_eq!(why["feedback_on_this"], "useful");
    assert_eq!(why["feedback_history"]["useful"], 1);
    assert_eq!(why["feedback_history"]["latest"][0]["at"], at);

    // Feedback on a point that is no anomaly is a tool error the assistant can read.
    let not_one = client
        .call_tool(
            CallToolRequestParams::new("give_feedback").with_arguments(
                json!({"batch": "shop", "metric": "orders", "at": iso(s.at(10)), "verdict": "useful"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(not_one.is_error, Some(true));
    assert!(
        not_one.content[0]
            .as_text()
            .unwrap()
            .text
            .contains("no anomaly")
    );

    // Incidents: acknowledged, then resolved, each with who and when; an unknown one is a
    // tool error.
    let id = open_incident(&app.store, &s).await;
    let acked = call(&client, "acknowledge_incident", json!({"incident": id}))
        .await
        .unwrap();
    assert_eq!(acked["state"], "acknowledged");
    assert_eq!(acked["changed"], true);
    assert_eq!(acked["acknowledged"]["by"], "MCP client (token fixer)");
    let resolved = call(&client, "resolve_incident", json!({"incident": id}))
        .await
        .unwrap();
    assert_eq!(resolved["state"], "resolved");
    let again = call(&client, "acknowledge_incident", json!({"incident": id}))
        .await
        .unwrap();
    assert_eq!(
        (again["state"].as_str(), again["changed"].as_bool()),
        (Some("resolved"), Some(false))
    );
    let unknown = client
        .call_tool(
            CallToolRequestParams::new("resolve_incident")
                .with_arguments(json!({"incident": 999}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(unknown.is_error, Some(true));

    let silence = call(
        &client,
        "add_silence",
        json!({"batch": "shop", "metric": "orders", "duration": "2h", "comment": "deploy"}),
    )
    .await
    .unwrap();
    let live = app
        .store
        .silences(Utc::now().naive_utc(), false)
        .await
        .unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].id, silence["id"].as_i64().unwrap());
    assert_eq!(live[0].created_by, "token:fixer");
    assert_eq!(
        (live[0].metric.as_str(), live[0].comment.as_str()),
        ("orders", "deploy")
    );

    client.cancel().await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_over_stdio_is_read_only_unless_asked_to_write() {
    let dir = MetricsDir::new();
    dir.write("shop.yaml", SHOP);
    dir.write("ads.yaml", ADS);
    let db = dir.tmp.path().join("app.db");
    {
        let store = Store::open(&anomstack::config::DatabaseLocation::Local { path: db.clone() })
            .await
            .unwrap();
        seed(&store, MetricsDir::new()).await;
    }
    let start = |write: bool| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_anomstack"));
        cmd.current_dir(dir.tmp.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("ANOMSTACK_METRICS_DIR", dir.path())
            .env("ANOMSTACK_SQLITE_PATH", &db)
            .arg("mcp");
        if write {
            cmd.arg("--write");
        }
        TokioChildProcess::new(cmd).expect("spawn anomstack mcp")
    };
    let client = ().serve(start(false)).await.expect("initialize over stdio");
    let names = tool_names(&client).await;
    assert!(names.contains(&"list_anomalies".to_owned()));
    assert!(!names.contains(&"give_feedback".to_owned()), "{names:?}");
    let anomalies = call(&client, "list_anomalies", json!({"batch": "shop"}))
        .await
        .unwrap();
    assert_eq!(anomalies["count"], 1, "{anomalies}");
    client.cancel().await.unwrap();

    let client = ().serve(start(true)).await.expect("initialize over stdio");
    assert!(
        tool_names(&client)
            .await
            .contains(&"add_silence".to_owned())
    );
    client.cancel().await.unwrap();
}
