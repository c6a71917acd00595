//! `connector check`: every assumption the connector makes about the two APIs, tried against
//! the systems in the environment (or the simulators), one line each.
//!
//! Reads only: logins, searches of one item, one asset and one work read, introspection, and
//! GraphQL validation done here (async-graphql's validator over the introspected schema). It
//! sends no mutation and no OTMM write. docs/ASSUMPTIONS.md lists each assumption with the check
//! that settles it.

mod consonance;
mod otmm;

use crate::adapters::OtmmDam;
use connector_core::config::MappingConfig;
use consonance_client::ConsonanceClient;
use serde::Serialize;
use std::fmt;

/// How one check came out. Only `Fail` makes the command fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    /// A difference the connector adapts to (an optional field absent): named, not failed.
    Warn,
    /// Not applicable with this config, or not possible (nothing to try it on).
    Skip,
    Fail,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Skip => "SKIP",
            Status::Fail => "FAIL",
        })
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckLine {
    pub status: Status,
    /// What is checked, e.g. `otmm.fields.isbn` or `consonance.documents.work`.
    pub check: String,
    /// What was tried, and what came back.
    pub tried: String,
    /// For a failure: the config key or value to change (or the setting to look at).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl fmt::Display for CheckLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.check, self.tried)?;
        if let Some(fix) = &self.fix {
            write!(f, " -> change {fix}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub lines: Vec<CheckLine>,
}

impl CheckReport {
    pub fn failed(&self) -> bool {
        self.lines.iter().any(|l| l.status == Status::Fail)
    }
    /// The lines with this status.
    pub fn with(&self, status: Status) -> Vec<&CheckLine> {
        self.lines.iter().filter(|l| l.status == status).collect()
    }
    /// The line of a check, if it ran.
    pub fn line(&self, check: &str) -> Option<&CheckLine> {
        self.lines.iter().find(|l| l.check == check)
    }
    /// One line per check, then a summary line.
    pub fn render(&self) -> String {
        let mut out: String = self.lines.iter().map(|l| format!("{l}\n")).collect();
        let n = |s| self.with(s).len();
        out.push_str(&format!(
            "{} checks: {} passed, {} warnings, {} skipped, {} failed\n",
            self.lines.len(),
            n(Status::Pass),
            n(Status::Warn),
            n(Status::Skip),
            n(Status::Fail)
        ));
        out
    }
    pub(crate) fn push(
        &mut self,
        status: Status,
        check: impl Into<String>,
        tried: impl Into<String>,
        fix: Option<String>,
    ) {
        self.lines.push(CheckLine { status, check: check.into(), tried: tried.into(), fix });
    }
    pub(crate) fn pass(&mut self, check: impl Into<String>, tried: impl Into<String>) {
        self.push(Status::Pass, check, tried, None);
    }
    pub(crate) fn fail(
        &mut self,
        check: impl Into<String>,
        tried: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.push(Status::Fail, check, tried, Some(fix.into()));
    }
}

/// Runs every check against OTMM (through `otmm`, which reads with `config`) and Consonance.
pub async fn run(otmm: &OtmmDam, consonance: &ConsonanceClient, config: &MappingConfig) -> CheckReport {
    let mut report = CheckReport::default();
    otmm::run(&mut report, otmm, config).await;
    consonance::run(&mut report, consonance, config).await;
    report
}

/// [`run`] with the clients the environment describes (the variables of [`crate::wiring`]).
pub async fn run_from_env(
    env: &impl Fn(&str) -> Option<String>,
    config: std::sync::Arc<MappingConfig>,
) -> Result<CheckReport, crate::wiring::WiringError> {
    use crate::wiring::{WiringError, consonance_config, otmm_config};
    let otmm = otmm_client::OtmmClient::new(otmm_config(env)?)
        .map_err(|e| WiringError::Client { system: "OTMM", message: e.to_string() })?;
    let consonance = ConsonanceClient::new(consonance_config(env)?)
        .map_err(|e| WiringError::Client { system: "Consonance", message: e.to_string() })?;
    let dam = OtmmDam::new(otmm, config.clone(), env("OTMM_CONTENT_URL_TEMPLATE"));
    Ok(run(&dam, &consonance, &config).await)
}
