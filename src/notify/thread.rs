//! A notice's part in an incident, decided before delivery (`jobs::incidents`): told on its
//! own, telling its incident (opening it, or as an update on its thread), or folded into
//! another message.

use crate::incident::Incident;

#[derive(Debug, Clone, Default)]
pub enum Part {
    /// No incident: told on its own.
    #[default]
    Alone,
    /// The message of an incident in this delivery.
    Tells(Box<Telling>),
    /// Not sent: told by another message of incident `0` (a metric joining in the same run, a
    /// member alerting again, a member back to normal before the incident is).
    Folded(i64),
}

#[derive(Debug, Clone)]
pub struct Telling {
    /// The incident as it stands after this delivery's alerts joined it.
    pub incident: Incident,
    /// Whether this message opens it (the first one).
    pub opens: bool,
    /// The other metrics this message tells of.
    pub with: Vec<String>,
}
