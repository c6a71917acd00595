//! The HTML report of `connector plan --html PATH`: one self-contained file (inline style, no
//! script, no external asset) for a production manager: the counts first, then one section per
//! kind. Every text from the systems is escaped. Each row carries `data-section`, so the
//! browser test can read the rows back and compare them with the JSON report.

use super::report::{PlanReport, denied_text, describe_write};
use std::collections::BTreeMap;

pub use connector_web::html::escape;

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem;color:#1d2330;background:#fff}
h1{font-size:1.5rem;margin:0 0 .25rem}
h2{font-size:1.15rem;margin:2rem 0 .5rem;border-bottom:2px solid #d8dde6;padding-bottom:.25rem}
p.context{color:#566;margin:.25rem 0 1rem}
.cards{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0}
.card{border:1px solid #d8dde6;border-radius:8px;padding:.6rem .9rem;min-width:9rem}
.card .n{font-size:1.6rem;font-weight:600}
.card .k{color:#566;font-size:.85rem}
.card.warn{border-color:#e0a100;background:#fff8e1}
.card.bad{border-color:#c62828;background:#fdecea}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #eceff4;vertical-align:top}
th{background:#f4f6fa;font-weight:600}
td.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.82rem}
.tag{display:inline-block;border-radius:4px;padding:0 .35rem;font-size:.8rem;font-weight:600;background:#e8edf5}
.tag.good{background:#e3f4e6;color:#1b5e20}.tag.warn{background:#fff3cd;color:#7a5a00}.tag.bad{background:#fde2e1;color:#8e1b14}
p.none{color:#789;font-style:italic}
";

fn tag(action: &str) -> String {
    let class = match action {
        "created" | "replaced" | "restored" | "widened" | "aligned" | "staged" | "check_passed"
        | "released" | "closed" => "good",
        "withheld" | "withdrawn" | "narrowed" | "changed" | "drift" | "redated" | "superseded" => "warn",
        "invalid" | "missing" | "blocked" | "failed" | "not_jpeg" | "no_products" => "bad",
        _ => "",
    };
    format!("<span class=\"tag {class}\">{}</span>", escape(action))
}

fn count_text(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ")
}

fn card(out: &mut String, n: u64, what: &str, detail: &str, class: &str) {
    out.push_str(&format!(
        "<div class=\"card {class}\" data-card=\"{}\"><div class=\"n\">{n}</div><div class=\"k\">{}</div><div class=\"k\">{}</div></div>\n",
        escape(what),
        escape(what),
        escape(detail)
    ));
}

/// One section: a heading, then the table (or a line saying there is nothing).
fn section(out: &mut String, id: &str, title: &str, header: &[&str], rows: Vec<Vec<(String, bool)>>) {
    out.push_str(&format!("<h2 id=\"{id}\">{} ({})</h2>\n", escape(title), rows.len()));
    if rows.is_empty() {
        out.push_str("<p class=\"none\">Nothing.</p>\n");
        return;
    }
    out.push_str("<table><thead><tr>");
    for h in header {
        out.push_str(&format!("<th>{}</th>", escape(h)));
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in rows {
        out.push_str(&format!("<tr data-section=\"{id}\">"));
        for (cell, is_html) in row {
            // Cells are escaped here unless they were built from escaped parts (`tag`).
            let cell = if is_html { cell } else { escape(&cell) };
            out.push_str(&format!("<td>{cell}</td>"));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

fn text(s: impl Into<String>) -> (String, bool) {
    (s.into(), false)
}

fn opt(v: &Option<String>) -> (String, bool) {
    text(v.clone().unwrap_or_else(|| "-".into()))
}

/// The whole page.
pub fn render(r: &PlanReport) -> String {
    let s = &r.summary;
    let mut out = String::new();
    out.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    out.push_str("<title>Connector plan: what the first run would do</title>");
    out.push_str(&format!("<style>{STYLE}</style></head><body>\n"));
    out.push_str("<h1>Connector plan: what a full run would do</h1>\n");
    out.push_str(&format!(
        "<p class=\"context\">A dry run: nothing was written to OTMM, Consonance or the connector's state. \
         OTMM <code>{}</code>, Consonance <code>{}</code> ({}); state: {}; made {}.</p>\n",
        escape(&r.context.otmm),
        escape(&r.context.consonance),
        escape(&r.context.systems),
        escape(&r.context.state),
        escape(&r.generated_at.format("%Y-%m-%d %H:%M UTC").to_string())
    ));
    out.push_str("<div class=\"cards\">\n");
    let links: u64 = s.links.values().sum();
    let held = s.links.get("withheld").copied().unwrap_or(0) + s.links.get("withdrawn").copied().unwrap_or(0);
    card(&mut out, links, "links", &count_text(&s.links), if held > 0 { "warn" } else { "" });
    card(
        &mut out,
        s.identifier_rewrites,
        "identifier rewrites",
        &format!("{} problems reported", s.identifier_problems),
        if s.identifier_problems > 0 { "warn" } else { "" },
    );
    card(&mut out, s.requests.values().sum(), "asset requests", &count_text(&s.requests), "");
    let blocked = s.packages.get("blocked").copied().unwrap_or(0);
    card(
        &mut out,
        s.packages.values().sum(),
        "packages",
        &count_text(&s.packages),
        if blocked > 0 { "warn" } else { "" },
    );
    card(
        &mut out,
        s.dead_letters,
        "dead letters",
        "messages that would fail",
        if s.dead_letters > 0 { "bad" } else { "" },
    );
    card(&mut out, r.writes.len() as u64, "writes", &count_text(&s.writes), "");
    out.push_str("</div>\n");

    let rows = r
        .links
        .iter()
        .map(|l| {
            vec![
                (tag(&l.action), true),
                opt(&l.isbn),
                opt(&l.role),
                opt(&l.asset_id),
                text(l.version.map_or("-".into(), |v| format!("v{v}"))),
                text(l.product_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")),
                text(if l.denied.is_empty() { "-".to_string() } else { denied_text(&l.denied) }),
            ]
        })
        .collect();
    section(
        &mut out,
        "links",
        "Links",
        &["action", "ISBN", "role", "asset", "version", "products", "rights"],
        rows,
    );

    let rows = r
        .identifiers
        .iter()
        .map(|i| {
            let change = i.change_text(|f| {
                format!("{}: \u{201c}{}\u{201d} \u{2192} \u{201c}{}\u{201d}", f.field, f.from, f.to)
            });
            vec![(tag(&i.action), true), opt(&i.isbn), opt(&i.asset_id), text(change)]
        })
        .collect();
    section(&mut out, "identifiers", "Identifiers", &["action", "ISBN", "asset", "change"], rows);

    let rows = r
        .requests
        .iter()
        .map(|q| vec![(tag(&q.action), true), opt(&q.isbn), opt(&q.role), opt(&q.due)])
        .collect();
    section(&mut out, "requests", "Asset requests", &["action", "ISBN", "role", "due"], rows);

    let rows = r
        .packages
        .iter()
        .map(|p| {
            vec![
                (tag(&p.action), true),
                opt(&p.isbn),
                opt(&p.channel),
                text(if p.reasons.is_empty() { "-".to_string() } else { p.reasons.join("; ") }),
            ]
        })
        .collect();
    section(&mut out, "packages", "Packages", &["action", "ISBN", "channel", "why"], rows);

    let rows = r
        .dead_letters
        .iter()
        .map(|d| vec![(tag(d.action.as_str()), true), opt(&d.isbn), opt(&d.asset_id), text(d.cause.clone())])
        .collect();
    section(&mut out, "dead_letters", "Would be dead-lettered", &["cause", "ISBN", "asset", "detail"], rows);

    let rows = r
        .writes
        .iter()
        .map(|w| {
            let (op, target) = describe_write(w);
            vec![text(w.system()), text(op), text(target)]
        })
        .collect();
    section(&mut out, "writes", "Writes it would make", &["system", "operation", "target"], rows);
    out.push_str("</body></html>\n");
    out
}
