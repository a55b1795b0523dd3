// The console in a real browser (issue 16): Debian's chromium, headless,
// driven by puppeteer-core (no browser download). Run by
// tests/integration/test_demo_browser.py, which owns every process: this
// script only drives the page, and when a step needs the outside world
// changed it prints "NEED <what>" and waits for a line on stdin.
//
// env: CONSOLE_URL, CHROMIUM (default /usr/bin/chromium), SHOTS (directory),
//      BROWSER (chromium, or firefox: Debian's firefox-esr over WebDriver
//      BiDi, FIREFOX overrides its path), QUICK (set: stop after the grid,
//      a command round trip and an analytics value; no screenshots)
import puppeteer from 'puppeteer-core';
import { createInterface } from 'node:readline';
import path from 'node:path';

const url = process.env.CONSOLE_URL;
const shots = process.env.SHOTS || '.';
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const t0 = Date.now();

function step(msg) {
  console.log(`STEP ${((Date.now() - t0) / 1000).toFixed(1)}s ${msg}`);
}

async function need(what) {
  console.log(`NEED ${what}`);
  const { value, done } = await lines.next();
  if (done || value.trim() !== 'done') throw new Error(`${what}: harness said ${value}`);
}

// every wait is bounded; the page's own state is the sync point
async function until(page, what, fn, arg, timeout = 45000) {
  try {
    await page.waitForFunction(fn, { timeout, polling: 100 }, arg);
  } catch (e) {
    await page.screenshot({ path: path.join(shots, 'failure.png'), fullPage: true });
    throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
  }
  step(what);
}

const quick = Boolean(process.env.QUICK);
const browser = await puppeteer.launch(
  process.env.BROWSER === 'firefox'
    ? { browser: 'firefox', executablePath: process.env.FIREFOX || '/usr/bin/firefox-esr', headless: true }
    : {
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
      },
);
step(`browser ${await browser.version()}`);
let failed = false;
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.setViewport({ width: 1280, height: 900 });
  await page.goto(url, { waitUntil: 'load', timeout: 15000 });

  await until(page, 'connected', () => document.getElementById('conn').dataset.state === 'connected');
  const want = Number(process.env.DEVICES || 7);
  await until(
    page,
    `grid has ${want} devices online with readings`,
    (n) =>
      [...document.querySelectorAll('.card[data-online="true"]')].filter(
        (c) => c.querySelector('.temperature').textContent.includes('°C'),
      ).length >= n,
    want,
  );

  await page.click('.card[data-device="dev-001"] button[data-cmd="ping"]');
  await until(page, 'command round trip (console -> Kafka -> device -> ack)', () =>
    /^ack ping in \d+ ms/.test(document.querySelector('.card[data-device="dev-001"] .ack').textContent),
  );

  await until(page, 'analytics value for dev-001', () => {
    const a = document.querySelector('.card[data-device="dev-001"] .analytics');
    return Number(a.dataset.count || 0) >= 2 && /mean \d/.test(a.textContent);
  });
  if (!quick) {
    await until(page, 'broker panel shows producing', () =>
      document.getElementById('kafka-state').dataset.state === 'producing' &&
      Number(document.getElementById('clients').textContent) >= 8,
    );
    // analytics judges a reading against at least 10 before it in the window
    await until(page, 'dev-003 has 12 readings in its analytics window', () =>
      Number(document.querySelector('.card[data-device="dev-003"] .analytics').dataset.count || 0) >= 12,
    );
    await page.click('.card[data-device="dev-003"] button[data-cmd="anomaly"]');
    await until(page, 'a commanded spike raises an alert from analytics', () =>
      [...document.querySelectorAll('#alerts li b')].some((b) => b.textContent === 'dev-003'),
    );
    await page.screenshot({ path: path.join(shots, 'console.png') });
    // phone width; isMobile would reload the page, the width alone does not
    await page.setViewport({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(shots, 'console-phone.png') });
    await page.setViewport({ width: 1280, height: 900 });

    await need('kill-victim');
    await until(page, 'killed device offline via its will', () => {
      const c = document.querySelector('.card[data-device="victim-001"]');
      return c && c.dataset.online === 'false' && /will/.test(c.querySelector('.state').textContent);
    });

    await need('kafka-down');
    await until(
      page,
      'Kafka outage on the broker panel',
      () => ['unreachable', 'spooling'].includes(document.getElementById('kafka-state').dataset.state),
      undefined,
      30000,
    );
    await page.screenshot({ path: path.join(shots, 'console-outage.png') });
    await need('kafka-up');
    await until(
      page,
      'Kafka back on the broker panel',
      () => document.getElementById('kafka-state').dataset.state === 'producing',
      undefined,
      30000,
    );
  }
  if (errors.length) throw new Error('page errors: ' + errors.join('; '));
  console.log('PASS');
} catch (e) {
  failed = true;
  console.log('FAIL ' + e.message);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
