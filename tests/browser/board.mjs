// Drives the readiness board in headless Chromium and prints what it saw as one JSON object.
//   node board.mjs <board url> <screenshot path> <scenarios json>
// scenarios: [{"imprint", "form", "status", "from", "to"}] (missing or "" = no filter). For each,
// the filters are set in the page's form (the inline script filters at once) and the visible
// rows are read; then the same filters are loaded as query parameters (server-side filtering).
// Uses Debian's chromium: no browser download.
import { chromium } from 'playwright-core';

const [url, screenshot, scenariosJson] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error('usage: node board.mjs <url> <screenshot.png> [scenarios json]');
  process.exit(2);
}
const scenarios = JSON.parse(scenariosJson || '[]');
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1500, height: 900 } });
  const dialogs = [];
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  const visibleRows = () => page.$$eval('#board tbody tr', (rows) =>
    rows.filter((r) => r.offsetParent !== null).map((r) => r.dataset.isbn));

  const response = await page.goto(url, { waitUntil: 'load' });
  const initial = await page.evaluate(() => {
    const rows = Array.from(document.querySelectorAll('#board tbody tr'));
    return {
      all_rows: rows.map((r) => r.dataset.isbn),
      columns: Array.from(document.querySelectorAll('#board thead th[data-role]')).map((th) => th.dataset.role),
      cells: rows.flatMap((r) => Array.from(r.querySelectorAll('td.cell')).map((td) => ({
        isbn: r.dataset.isbn,
        role: td.dataset.role,
        colour: getComputedStyle(td).backgroundColor,
      }))),
      titles: Object.fromEntries(rows.map((r) => [r.dataset.isbn, r.querySelector('td.title').textContent])),
      audit_links: Object.fromEntries(rows.map((r) => [r.dataset.isbn, r.querySelector('td.title a').href])),
      legend: Object.fromEntries(Array.from(document.querySelectorAll('#legend span')).map((s) =>
        [s.dataset.state, getComputedStyle(s).backgroundColor])),
      scripts: document.querySelectorAll('script').length,
    };
  });
  initial.status = response.status();
  initial.rows = await visibleRows();
  await page.screenshot({ path: screenshot, fullPage: true });

  const fields = ['imprint', 'form', 'status', 'from', 'to'];
  const client = [];
  for (const s of scenarios) {
    for (const f of fields) {
      const sel = `#f-${f}`;
      const value = s[f] || '';
      if (['imprint', 'form', 'status'].includes(f)) {
        await page.selectOption(sel, value);
      } else {
        await page.fill(sel, value);
      }
    }
    client.push({ rows: await visibleRows(), count: await page.textContent('#count'), location: page.url() });
  }
  const server = [];
  for (const s of scenarios) {
    const q = new URLSearchParams();
    for (const f of fields) { if (s[f]) { q.set(f, s[f]); } }
    const u = new URL(url);
    u.search = q.toString();
    await page.goto(u.toString(), { waitUntil: 'load' });
    server.push({ rows: await visibleRows(), count: await page.textContent('#count') });
  }
  console.log(JSON.stringify({ initial, client, server, dialogs, errors }));
} finally {
  await browser.close();
}
