// Opens the HTML report of `connector plan --html` in headless Chromium and prints what it
// shows as one JSON object: the summary cards (name -> number) and each section's rows (the
// text of every cell). Saves a screenshot of the top of the page (counts and first sections).
//   node plan.mjs <report.html> <screenshot path>
// Uses Debian's chromium: no browser download. Called by shared/local/tests/plan.rs.
import { chromium } from 'playwright-core';
import { pathToFileURL } from 'node:url';

const [file, screenshot] = process.argv.slice(2);
if (!file || !screenshot) {
  console.error('usage: node plan.mjs <report.html> <screenshot.png>');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const requests = [];
  page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  const seen = await page.evaluate(() => {
    const rows = {};
    for (const tr of document.querySelectorAll('tr[data-section]')) {
      (rows[tr.dataset.section] ||= []).push(Array.from(tr.querySelectorAll('td')).map((td) => td.textContent));
    }
    const cards = Object.fromEntries(Array.from(document.querySelectorAll('[data-card]')).map((c) =>
      [c.dataset.card, c.querySelector('.n').textContent]));
    return { title: document.title, rows, cards, scripts: document.querySelectorAll('script').length };
  });
  seen.external_requests = requests;
  await page.screenshot({ path: screenshot, fullPage: false });
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
