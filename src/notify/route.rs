//! Which channels, and which recipients, an alert goes to: the batch's methods for its kind
//! (`alert_methods`, `tholdalert_methods`, `change_methods`, `llmalert_methods`), unless a
//! route whose `match` tags all equal the metric's says otherwise. The first match decides.

use std::collections::BTreeMap;

use crate::config::{AlertMethod, BatchSpec, Route};

/// Where one alert goes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub methods: Vec<AlertMethod>,
    pub email_to: Option<Vec<String>>,
    pub slack_channel: Option<String>,
    pub webhook_url: Option<String>,
}

/// The plan for an alert of `kind` with `tags`.
pub fn plan(spec: &BatchSpec, kind: &str, tags: &BTreeMap<String, String>) -> Plan {
    let methods = match kind {
        "threshold" => &spec.tholdalert_methods,
        "change" => spec.change_methods.as_ref().unwrap_or(&spec.alert_methods),
        "llm" => spec
            .llmalert_methods
            .as_ref()
            .unwrap_or(&spec.alert_methods),
        _ => &spec.alert_methods,
    };
    match spec.routes.iter().find(|r| matches(r, tags)) {
        Some(route) => Plan {
            methods: route.methods.as_ref().unwrap_or(methods).0.clone(),
            email_to: (!route.email_to.is_empty()).then(|| route.email_to.clone()),
            slack_channel: route.slack_channel.clone(),
            webhook_url: route.webhook_url.clone(),
        },
        None => Plan {
            methods: methods.0.clone(),
            ..Plan::default()
        },
    }
}

fn matches(route: &Route, tags: &BTreeMap<String, String>) -> bool {
    route
        .matchers
        .iter()
        .all(|(k, v)| tags.get(k).is_some_and(|t| t == v))
}

/// The tags an alert's message carries (`metric_batch`, `metric_name`, the metric's
/// `metric_tags`, `alert_type`): what routes and silences match.
pub fn alert_tags(
    batch: Option<&crate::config::Batch>,
    notice: &super::Notice,
) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    if let Some(b) = batch {
        tags.insert("metric_batch".to_owned(), b.name().to_owned());
        if !notice.metric.is_empty() {
            tags.insert("metric_name".to_owned(), notice.metric.clone());
            tags.extend(metric_tags(&b.spec, &notice.metric));
        }
    }
    tags.insert("alert_type".to_owned(), notice.kind().to_owned());
    tags
}

/// A metric's tags as text (`metric_tags` values may be numbers or booleans in YAML).
pub fn metric_tags(spec: &BatchSpec, metric: &str) -> BTreeMap<String, String> {
    spec.metric_tags
        .get(metric)
        .map(|tags| {
            tags.iter()
                .map(|(k, v)| {
                    let text = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::builtin_defaults_batch;

    fn spec(yaml_routes: &str) -> BatchSpec {
        let mut spec = builtin_defaults_batch("b").unwrap();
        spec.routes = serde_yaml::from_str(yaml_routes).unwrap();
        spec
    }

    #[test]
    fn the_first_matching_route_decides_and_others_use_the_kinds_methods() {
        let s = spec(
            "- match: {priority: p1}\n  methods: [slack, webhook]\n  slack_channel: '#oncall'\n- match: {team: growth}\n  email_to: [g@example.com]\n",
        );
        let p1: BTreeMap<String, String> = [("priority".to_owned(), "p1".to_owned())].into();
        let plan1 = plan(&s, "anomaly", &p1);
        assert_eq!(
            plan1.methods,
            vec![AlertMethod::Slack, AlertMethod::Webhook]
        );
        assert_eq!(plan1.slack_channel.as_deref(), Some("#oncall"));
        let growth: BTreeMap<String, String> = [("team".to_owned(), "growth".to_owned())].into();
        let plan2 = plan(&s, "anomaly", &growth);
        assert_eq!(
            plan2.methods, s.alert_methods.0,
            "a route without methods keeps the batch's"
        );
        assert_eq!(plan2.email_to, Some(vec!["g@example.com".to_owned()]));
        let none = plan(&s, "threshold", &BTreeMap::new());
        assert_eq!(none.methods, s.tholdalert_methods.0);
        assert_eq!(none.email_to, None);
    }
}
