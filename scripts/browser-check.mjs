// Real-browser check of a self-contained HTML report; run through scripts/browser-check.sh.
//   node scripts/browser-check.mjs HTML_FILE PNG_OUT
// Exit 0: clean. Exit 1: problems, one per line on stderr. Exit 2: usage or browser failure.
import { createRequire } from 'node:module';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(new URL('../tools/browser/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const [htmlArg, pngArg] = process.argv.slice(2);
if (!htmlArg || !pngArg) {
  console.error('usage: node scripts/browser-check.mjs HTML_FILE PNG_OUT');
  process.exit(2);
}
const fileUrl = pathToFileURL(resolve(htmlArg)).href;
const pngPath = resolve(pngArg);
const started = Date.now();

const problems = [];
const external = new Set();
// The page's own URL, or a data: URL, is the only thing it may load.
const allowed = (url) => url.split('#')[0] === fileUrl || url.startsWith('data:');

let browser;
try {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
} catch (err) {
  console.error(`browser-check: cannot launch /usr/bin/chromium: ${err.message}`);
  process.exit(2);
}

let summary;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  // Nothing leaves the machine: every other request is recorded and aborted.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (allowed(url)) return route.continue();
    return route.abort('blockedbyclient');
  });
  // Also catch CSP violations as DOM events (this runs outside the page's CSP).
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.effectiveDirective} blocked ${e.blockedURI || '(inline)'}`
        + (e.sourceFile ? ` at ${e.sourceFile}:${e.lineNumber}` : ''));
    });
  });
  const page = await context.newPage();

  page.on('console', (msg) => {
    const type = msg.type();
    if (type !== 'error' && type !== 'warning') return;
    const loc = msg.location();
    const where = loc && loc.url ? ` (${loc.url}${loc.lineNumber ? `:${loc.lineNumber}` : ''})` : '';
    problems.push(`console ${type}: ${msg.text()}${where}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('request', (req) => {
    const url = req.url();
    if (!allowed(url) && !external.has(url)) {
      external.add(url);
      problems.push(`network request (only the file itself and data: URLs are allowed): ${url}`);
    }
  });
  page.on('requestfailed', (req) => {
    if (external.has(req.url())) return; // already reported, and aborted by us
    problems.push(`request failed: ${req.url()} (${req.failure()?.errorText ?? 'unknown'})`);
  });
  page.on('dialog', (d) => { problems.push(`dialog opened: ${d.type()} ${d.message()}`); d.dismiss(); });

  const resp = await page.goto(fileUrl, { waitUntil: 'load', timeout: 30_000 });
  if (resp && !resp.ok()) problems.push(`loading ${fileUrl} gave status ${resp.status()}`);
  await page.waitForTimeout(100); // let late console/CSP reports arrive

  const facts = await page.evaluate(() => ({
    title: document.title,
    svgs: document.querySelectorAll('svg').length,
    scripts: document.querySelectorAll('script').length,
    csp: [...document.querySelectorAll('meta[http-equiv]')]
      .filter((m) => m.httpEquiv.toLowerCase() === 'content-security-policy')
      .map((m) => m.content),
    violations: window.__cspViolations || [],
  }));
  if (process.env.BROWSER_CHECK_DEBUG) console.error('browser-check: page facts', JSON.stringify(facts));
  if (facts.scripts !== 0) problems.push(`document has ${facts.scripts} <script> element(s); the report must have none`);
  if (facts.csp.length === 0) problems.push('no <meta http-equiv="Content-Security-Policy"> in the document');
  // Chromium normally reports these on the console too; list the events only if it did not.
  if (!problems.some((p) => p.includes('Content Security Policy'))) {
    for (const v of facts.violations) problems.push(`CSP violation: ${v}`);
  }

  await page.screenshot({ path: pngPath, fullPage: true });
  await context.close();
  const bytes = statSync(pngPath).size;
  summary = `browser-check: title=${JSON.stringify(facts.title)} svg=${facts.svgs} png=${bytes}B `
    + `(${pngArg}) csp=${JSON.stringify(facts.csp[0] ?? '')} ${Date.now() - started}ms`;
} catch (err) {
  problems.push(`check aborted: ${err.message}`);
} finally {
  await browser.close();
}

if (summary) console.log(summary);
if (problems.length) {
  console.error(`browser-check: FAIL, ${problems.length} problem(s) in ${htmlArg}:`);
  for (const p of problems) console.error(`  - ${p}`);
  process.exit(1);
}
console.log('browser-check: OK');
