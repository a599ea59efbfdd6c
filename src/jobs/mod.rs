//! The pipeline's jobs. For now only their pure decision rules, shared with the backtest.

pub mod rules;
