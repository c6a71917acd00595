//! `connector backfill [--since DATE]`: the first install. Walks the catalogue from a
//! look-back date ([`reconciler::Mode::Backfill`]: its own checkpoints, written after every
//! page), enqueues what is missing, and processes it (or leaves it to a running `serve`).
//! Stopped at any point, the same command continues where it was.

use super::CommandError;
use crate::worker::{self, DrainReport};
use chrono::{DateTime, Utc};
use connector_app::App;
use connector_app::reconciler::{self, Mode, Progress, Summary};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct BackfillArgs {
    #[arg(long, default_value = ".state/connector", env = "CONNECTOR_STATE_DIR")]
    pub state_dir: PathBuf,
    /// The look-back date: 2024-01-01 or an RFC 3339 time (the whole catalogue without it).
    #[arg(long, value_parser = |s: &str| reconciler::parse_since(s).map_err(|e| format!("--since {e}")))]
    pub since: Option<DateTime<Utc>>,
    /// Assets per OTMM search page (a checkpoint is written after each).
    #[arg(long, default_value_t = 100)]
    pub page_size: u64,
    /// Enqueue and leave the processing to a worker (implied beside a running serve).
    #[arg(long)]
    pub enqueue_only: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The command: [`run`] on the local state, its report on stdout.
pub async fn command(args: BackfillArgs) -> Result<(), CommandError> {
    let BackfillArgs { state_dir, since, page_size, enqueue_only, json } = args;
    let serve_running = super::serve_running(&state_dir);
    let app = super::local_app(&state_dir)?;
    let options = BackfillOptions { since, page_size, enqueue_only: enqueue_only || serve_running };
    let report = run(&app, &options).await?;
    if json {
        println!("{}", super::pretty_json(&report)?);
    } else {
        print!("{}", render(&report, since));
    }
    Ok(())
}

pub struct BackfillOptions {
    pub since: Option<DateTime<Utc>>,
    pub page_size: u64,
    /// Enqueue only: a worker elsewhere (a running `serve`) processes the messages.
    pub enqueue_only: bool,
}

/// What the backfill did, and what it left for the processor.
#[derive(Debug, serde::Serialize)]
pub struct BackfillReport {
    pub walk: Summary,
    /// Processed here; `None` when left to another worker.
    pub processed: Option<DrainReport>,
    /// Messages still in the flow queue (or in flight) at the end.
    pub left_in_queue: u64,
    pub dead_letters: u64,
}

/// Progress bars on stderr (drawn only on a terminal): the OTMM pass as a bar over the time
/// from the look-back date (or the oldest change, without one) to now, with an ETA; the
/// Consonance pass and the processing as counts.
struct Bars {
    now: DateTime<Utc>,
    origin: OnceLock<DateTime<Utc>>,
    assets: ProgressBar,
    works: ProgressBar,
    processed: ProgressBar,
}

impl Bars {
    fn new(now: DateTime<Utc>) -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = |template: &str| {
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ")
        };
        let assets = multi.add(ProgressBar::new(1));
        assets.set_style(style("OTMM assets  [{bar:30}] {percent:>3}% {msg} (ETA {eta})"));
        let works = multi.add(ProgressBar::no_length());
        works.set_style(style("Consonance   {spinner} {pos} works {msg}"));
        let processed = multi.add(ProgressBar::no_length());
        processed.set_style(style("processed    {spinner} {pos} messages {msg}"));
        Bars { now, origin: OnceLock::new(), assets, works, processed }
    }

    fn show(&self, progress: &Progress) {
        match progress {
            Progress::Assets { from, at, seen } => {
                let origin = *self.origin.get_or_init(|| {
                    let origin = if *from == DateTime::<Utc>::UNIX_EPOCH { *at } else { *from };
                    self.assets.set_length((self.now - origin).num_seconds().max(1) as u64);
                    origin
                });
                self.assets.set_position((*at - origin).num_seconds().max(0) as u64);
                self.assets.set_message(format!("{seen} seen, at {}", at.format("%Y-%m-%d")));
            }
            Progress::Works { since, seen } => {
                self.assets.finish();
                self.works.set_position(*seen);
                self.works.set_message(format!("changed since {since}"));
            }
            Progress::Links { .. } => {}
        }
    }
}

pub async fn run(app: &App, options: &BackfillOptions) -> Result<BackfillReport, CommandError> {
    let bars = Bars::new(app.now());
    let run_options = reconciler::Options {
        mode: Mode::Backfill,
        since: options.since,
        page_size: options.page_size.max(1),
        ..Default::default()
    };
    let walk = reconciler::run_observed(app, &run_options, &|| Duration::MAX, &|p| bars.show(p))
        .await
        .map_err(|e| format!("backfill stopped (run it again to continue from its checkpoint): {e}"))?;
    bars.assets.finish();
    bars.works.finish();
    let processed = if options.enqueue_only {
        None
    } else {
        let report = worker::drain(app, Duration::from_secs(24 * 3600), |r| {
            bars.processed.set_position(r.messages);
            bars.processed.set_message(format!("{} done, {} dead-lettered", r.done, r.dead_lettered));
        })
        .await
        .map_err(|e| e.to_string())?;
        bars.processed.finish();
        Some(report)
    };
    let depth = app.stores.queue.depth().await.map_err(|e| e.to_string())?;
    Ok(BackfillReport {
        walk,
        processed,
        left_in_queue: depth.visible + depth.in_flight,
        dead_letters: depth.dead,
    })
}

/// The summary as a person reads it.
pub fn render(report: &BackfillReport, since: Option<DateTime<Utc>>) -> String {
    let w = &report.walk;
    let from = since
        .map(|s| format!("since {}", s.format("%Y-%m-%d")))
        .unwrap_or_else(|| "the whole catalogue".into());
    let mut out = format!(
        "backfill ({from}): {} assets and {} works read in {} pages, {} messages enqueued",
        w.assets_seen, w.works_seen, w.pages, w.enqueued
    );
    if !w.drift.is_empty() {
        let kinds: Vec<String> = w.drift.iter().map(|(k, n)| format!("{k} {n}")).collect();
        out += &format!(" ({})", kinds.join(", "));
    }
    out += "\n";
    match &report.processed {
        Some(p) => {
            out += &format!(
                "processed {} messages: {} done, {} retried, {} dead-lettered\n",
                p.messages, p.done, p.retried, p.dead_lettered
            )
        }
        None => out += "processing left to a worker (the running `connector serve`)\n",
    }
    if !w.finished {
        out += "stopped before the end: run the same command again to continue\n";
    }
    if report.left_in_queue > 0 {
        out += &format!("{} messages left in the flow queue for the processor\n", report.left_in_queue);
    }
    if report.dead_letters > 0 {
        out += &format!(
            "{} dead letters: `connector replay` lists them with their causes\n",
            report.dead_letters
        );
    }
    out
}
