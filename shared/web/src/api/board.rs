//! The readiness board: one HTML page, rendered on the server, no framework. Titles by
//! publication date, one row per title, a cell per required asset role coloured by its
//! [`RoleState`], a status column, and filters (imprint, format, status, date range) that
//! work as a plain GET form and, with the small inline script, instantly in the page.
//! Every piece of data goes through [`escape`].

use super::query::TitleFilter;
use chrono::NaiveDate;
use connector_core::AssetRole;
use connector_core::readiness::{ReadinessStatus, RoleState, TitleReadiness};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// Background colour per role state (CSS hex), worst to best. The legend shows the same.
pub const ROLE_STATE_COLOURS: [(RoleState, &str); 8] = [
    (RoleState::Missing, "#d93025"),
    (RoleState::Requested, "#f9ab00"),
    (RoleState::InReview, "#fdd663"),
    (RoleState::Untagged, "#c58af9"),
    (RoleState::RightsBlocked, "#a50e0e"),
    (RoleState::CheckFailed, "#e8710a"),
    (RoleState::Linked, "#a8dab5"),
    (RoleState::Packaged, "#1e8e3e"),
];
/// Background of a role the title's form does not require.
pub const NOT_REQUIRED_COLOUR: &str = "#f1f3f4";

pub fn colour_of(state: RoleState) -> &'static str {
    ROLE_STATE_COLOURS.iter().find(|(s, _)| *s == state).map(|(_, c)| *c).unwrap_or(NOT_REQUIRED_COLOUR)
}

fn label(state: RoleState) -> &'static str {
    match state {
        RoleState::Missing => "missing",
        RoleState::Requested => "requested",
        RoleState::InReview => "in review",
        RoleState::Untagged => "untagged",
        RoleState::RightsBlocked => "rights blocked",
        RoleState::CheckFailed => "check failed",
        RoleState::Linked => "linked",
        RoleState::Packaged => "packaged",
    }
}

fn status_label(s: ReadinessStatus) -> &'static str {
    match s {
        ReadinessStatus::Ready => "ready",
        ReadinessStatus::AtRisk => "at risk",
        ReadinessStatus::Blocked => "blocked",
    }
}

pub use crate::html::escape;

const STYLE: &str = r#"
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #202124; }
h1 { font-size: 1.4rem; margin: 0 0 .8rem; }
form { display: flex; gap: 1rem; flex-wrap: wrap; align-items: end; margin-bottom: .8rem; }
label { display: flex; flex-direction: column; font-size: .8rem; gap: .2rem; }
table { border-collapse: collapse; font-size: .85rem; }
th, td { border: 1px solid #dadce0; padding: .3rem .5rem; text-align: left; white-space: nowrap; }
th { background: #f8f9fa; position: sticky; top: 0; }
td.cell { text-align: center; font-size: .75rem; min-width: 5.5rem; }
td.title { white-space: normal; max-width: 22rem; }
td.status-ready { color: #137333; font-weight: 600; }
td.status-at_risk { color: #b06000; font-weight: 600; }
td.status-blocked { color: #a50e0e; font-weight: 600; }
tr[hidden] { display: none; }
.legend { display: flex; gap: .5rem; flex-wrap: wrap; margin: .8rem 0; font-size: .8rem; }
.legend span { padding: .2rem .5rem; border-radius: 3px; }
#count { font-size: .85rem; color: #5f6368; }
"#;

const SCRIPT: &str = r#"
(function () {
  var form = document.getElementById('filters');
  var rows = Array.prototype.slice.call(document.querySelectorAll('#board tbody tr'));
  var count = document.getElementById('count');
  function value(name) { return form.elements[name].value.trim(); }
  function apply() {
    var imprint = value('imprint').toLowerCase(), fmt = value('form').toLowerCase();
    var status = value('status'), from = value('from'), to = value('to');
    var shown = 0;
    rows.forEach(function (row) {
      var d = row.dataset, date = d.date || '';
      var ok = (!imprint || (d.imprint || '').toLowerCase() === imprint)
        && (!fmt || (d.form || '').toLowerCase() === fmt)
        && (!status || d.status === status)
        && (!from || (date && date >= from))
        && (!to || (date && date <= to));
      row.hidden = !ok;
      if (ok) { shown++; }
    });
    count.textContent = shown + ' of ' + rows.length + ' titles';
    var query = new URLSearchParams();
    ['imprint', 'form', 'status', 'from', 'to'].forEach(function (n) { if (value(n)) { query.set(n, value(n)); } });
    var q = query.toString();
    history.replaceState(null, '', q ? '?' + q : location.pathname);
  }
  form.addEventListener('input', apply);
  form.addEventListener('change', apply);
  form.addEventListener('submit', function (e) { e.preventDefault(); apply(); });
})();
"#;

fn select(out: &mut String, name: &str, caption: &str, options: &[(String, String)], chosen: Option<&str>) {
    let _ =
        write!(out, r#"<label>{caption}<select name="{name}" id="f-{name}"><option value="">all</option>"#);
    for (value, text) in options {
        let selected = chosen.is_some_and(|c| c.eq_ignore_ascii_case(value));
        let _ = write!(
            out,
            r#"<option value="{}"{}>{}</option>"#,
            escape(value),
            if selected { " selected" } else { "" },
            escape(text)
        );
    }
    out.push_str("</select></label>");
}

/// The whole page: `titles` (every stored report, any order) with rows outside `filter` hidden.
pub fn render_board(titles: &[TitleReadiness], filter: &TitleFilter, today: NaiveDate) -> String {
    let mut titles: Vec<&TitleReadiness> = titles.iter().collect();
    titles.sort_by_key(|t| super::query::sort_key(t));
    // Columns: every role some title requires, in the roles' own order.
    let required: BTreeSet<AssetRole> = titles.iter().flat_map(|t| t.roles.iter().map(|r| r.role)).collect();
    let columns: Vec<AssetRole> = AssetRole::ALL.iter().copied().filter(|r| required.contains(r)).collect();
    let distinct = |f: &dyn Fn(&TitleReadiness) -> Option<String>, chosen: Option<&String>| {
        let mut set: BTreeSet<String> = titles.iter().filter_map(|t| f(t)).collect();
        if let Some(c) = chosen
            && !set.iter().any(|s| s.eq_ignore_ascii_case(c))
        {
            set.insert(c.clone());
        }
        set.into_iter().map(|v| (v.clone(), v)).collect::<Vec<_>>()
    };
    let imprints = distinct(&|t| t.imprint.clone(), filter.imprint.as_ref());
    let forms = distinct(&|t| t.product_form.clone(), filter.form.as_ref());
    let statuses: Vec<(String, String)> =
        [ReadinessStatus::Ready, ReadinessStatus::AtRisk, ReadinessStatus::Blocked]
            .iter()
            .map(|s| (s.as_str().to_string(), status_label(*s).to_string()))
            .collect();

    let mut out = String::with_capacity(4096 + titles.len() * 600);
    out.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    out.push_str("<title>Launch readiness</title><style>");
    out.push_str(STYLE);
    for (state, colour) in ROLE_STATE_COLOURS {
        let text = if matches!(state, RoleState::Missing | RoleState::RightsBlocked | RoleState::Packaged) {
            "#ffffff"
        } else {
            "#202124"
        };
        let _ = writeln!(out, ".state-{} {{ background-color: {colour}; color: {text}; }}", state.as_str());
    }
    let _ =
        writeln!(out, ".state-not_required {{ background-color: {NOT_REQUIRED_COLOUR}; color: #9aa0a6; }}");
    out.push_str("</style></head><body>\n<h1>Launch readiness</h1>\n");

    out.push_str(r#"<form id="filters" method="get" action="board">"#);
    select(&mut out, "imprint", "Imprint", &imprints, filter.imprint.as_deref());
    select(&mut out, "form", "Format", &forms, filter.form.as_deref());
    select(&mut out, "status", "Status", &statuses, filter.status.map(|s| s.as_str()));
    let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    let _ = write!(
        out,
        r#"<label>Published from<input type="date" name="from" id="f-from" value="{}"></label><label>to<input type="date" name="to" id="f-to" value="{}"></label><button type="submit">Filter</button></form>"#,
        date(filter.from),
        date(filter.to)
    );
    out.push('\n');

    out.push_str(r#"<div class="legend" id="legend">"#);
    for (state, _) in ROLE_STATE_COLOURS {
        let _ = write!(
            out,
            r#"<span class="state-{}" data-state="{}">{}</span>"#,
            state.as_str(),
            state.as_str(),
            label(state)
        );
    }
    out.push_str(r#"<span class="state-not_required" data-state="not_required">not required</span></div>"#);
    out.push('\n');

    let shown = titles.iter().filter(|t| filter.matches(t)).count();
    let _ = writeln!(out, r#"<p id="count">{shown} of {} titles</p>"#, titles.len());
    out.push_str(r#"<table id="board"><thead><tr><th>Publication</th><th>Days</th><th>Title</th><th>ISBN</th><th>Imprint</th><th>Format</th><th>Status</th>"#);
    for role in &columns {
        let _ = write!(out, r#"<th data-role="{0}">{0}</th>"#, role.as_str());
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for t in &titles {
        let isbn = t.isbn.as_str();
        let pub_date = date(t.publication_date);
        let days = t
            .publication_date
            .map(|d| (d - today).num_days().to_string())
            .or_else(|| t.days_to_publication.map(|d| d.to_string()))
            .unwrap_or_default();
        let _ = write!(
            out,
            r#"<tr data-isbn="{isbn}" data-imprint="{}" data-form="{}" data-date="{pub_date}" data-status="{}"{}>"#,
            escape(t.imprint.as_deref().unwrap_or("")),
            escape(t.product_form.as_deref().unwrap_or("")),
            t.status.as_str(),
            if filter.matches(t) { "" } else { " hidden" },
        );
        let reasons = escape(&t.reasons.join("; "));
        let _ = write!(
            out,
            r#"<td>{pub_date}</td><td>{days}</td><td class="title"><a href="audit?title={isbn}">{}</a></td><td>{isbn}</td><td>{}</td><td>{}</td><td class="status status-{}" title="{reasons}">{}</td>"#,
            escape(&t.title),
            escape(t.imprint.as_deref().unwrap_or("")),
            escape(t.product_form.as_deref().unwrap_or("")),
            t.status.as_str(),
            status_label(t.status),
        );
        for role in &columns {
            match t.roles.iter().find(|r| r.role == *role) {
                Some(r) => {
                    let mut tip = format!("{}: {}", role.as_str(), label(r.state));
                    if let Some(due) = r.due {
                        let _ = write!(tip, ", due {due}");
                    }
                    if !r.reasons.is_empty() {
                        let _ = write!(tip, " ({})", r.reasons.join("; "));
                    }
                    let _ = write!(
                        out,
                        r#"<td class="cell state-{0}" data-role="{1}" data-state="{0}" title="{2}">{3}</td>"#,
                        r.state.as_str(),
                        role.as_str(),
                        escape(&tip),
                        label(r.state)
                    );
                }
                None => {
                    let _ = write!(
                        out,
                        r#"<td class="cell state-not_required" data-role="{}" data-state="not_required">–</td>"#,
                        role.as_str()
                    );
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n<script>");
    out.push_str(SCRIPT);
    out.push_str("</script>\n</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_core::readiness::RoleReadiness;
    use connector_core::{Isbn13, ProductId, WorkId};

    fn title(
        n: u64,
        name: &str,
        date: Option<&str>,
        imprint: &str,
        roles: &[(AssetRole, RoleState)],
    ) -> TitleReadiness {
        TitleReadiness {
            isbn: Isbn13::from_prefix12(&format!("978{n:09}")).unwrap(),
            work_id: WorkId(n as i64 + 1),
            product_id: ProductId(n as i64 + 1),
            title: name.into(),
            imprint: Some(imprint.into()),
            stage: None,
            product_form: Some("BB".into()),
            publication_date: date.map(|d| d.parse().unwrap()),
            days_to_publication: None,
            status: ReadinessStatus::AtRisk,
            reasons: vec!["cover <late>".into()],
            milestones: vec![],
            roles: roles
                .iter()
                .map(|(role, state)| RoleReadiness {
                    role: *role,
                    state: *state,
                    asset_id: None,
                    version: None,
                    request_id: None,
                    due: None,
                    reasons: vec![],
                })
                .collect(),
            evaluated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn data_is_escaped_everywhere() {
        let t = title(
            1,
            r#"<script>alert("x")</script> & 'Co'"#,
            Some("2027-01-01"),
            r#"A&B "Books""#,
            &[(AssetRole::FrontCover, RoleState::Missing)],
        );
        let html = render_board(&[t], &TitleFilter::default(), "2026-11-01".parse().unwrap());
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;Co&#39;"));
        assert!(html.contains(r#"data-imprint="A&amp;B &quot;Books&quot;""#));
        assert!(html.contains("cover &lt;late&gt;"));
        assert_eq!(html.matches("<script>").count(), 1, "only the page's own script");
    }

    #[test]
    fn rows_follow_publication_date_and_the_filter_hides_others() {
        let a = title(2, "Later", Some("2027-03-01"), "Fox", &[(AssetRole::FrontCover, RoleState::Linked)]);
        let b =
            title(3, "Sooner", Some("2027-01-01"), "Owl", &[(AssetRole::AuthorPhoto, RoleState::Requested)]);
        let c = title(4, "Undated", None, "Fox", &[]);
        let filter = TitleFilter { imprint: Some("fox".into()), ..Default::default() };
        let html = render_board(&[a, c, b], &filter, "2026-11-01".parse().unwrap());
        let (sooner, later, undated) =
            (html.find("Sooner").unwrap(), html.find("Later").unwrap(), html.find("Undated").unwrap());
        assert!(sooner < later && later < undated);
        // Columns: front cover before author photo; a title that lacks a role shows "not required".
        assert!(
            html.find(r#"<th data-role="front_cover">"#).unwrap()
                < html.find(r#"<th data-role="author_photo">"#).unwrap()
        );
        assert!(html.contains(
            r#"data-imprint="Owl" data-form="BB" data-date="2027-01-01" data-status="at_risk" hidden>"#
        ));
        assert!(html.contains(r#"<p id="count">2 of 3 titles</p>"#));
        assert!(html.contains(r#"class="cell state-requested" data-role="author_photo""#));
        assert!(html.contains(r#"class="cell state-not_required" data-role="author_photo""#));
    }

    #[test]
    fn every_state_has_its_own_colour() {
        let colours: BTreeSet<&str> = ROLE_STATE_COLOURS.iter().map(|(_, c)| *c).collect();
        assert_eq!(colours.len(), ROLE_STATE_COLOURS.len());
        assert!(!colours.contains(NOT_REQUIRED_COLOUR));
    }
}
