//! Everything that decides how alerts leave the app. So far: silences (which alerts are
//! muted); channels and routing arrive with the notification issue.

pub mod silence;
