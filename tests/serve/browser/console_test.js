// Drives the metaids console in Debian's headless Chromium (playwright-core, no browser
// download): log in with the token, load the alerts, filter them by class, open the flows
// behind one, select five and label them (POST /v1/adapt), see the new version become current,
// reload (the token is kept for the session), roll back, and take a screenshot.
//
//   node console_test.js URL TOKEN SCREENSHOT.png LABEL_CLASS RESCORE.csv
// Prints one line per step; exits non-zero at the first step that fails.
"use strict";
const fs = require("fs");
const { chromium } = require("playwright-core");

const [url, token, screenshot, fromClass, rescore] = process.argv.slice(2);
const step = (what) => console.log("console: " + what);

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
  const problems = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1050 } });
    page.on("pageerror", (e) => problems.push("page error: " + e.message));
    page.on("console", (m) => { if (m.type() === "error") problems.push("console error: " + m.text()); });
    page.setDefaultTimeout(15000);

    await page.goto(url);
    await page.waitForSelector("#login:not([hidden])");
    await page.fill("#token", "not-the-token-0123456789");
    await page.click("#login-form button");
    await page.waitForFunction(() => document.querySelector("#login-error").textContent.length > 0);
    step("a wrong token is refused: " + (await page.textContent("#login-error")));
    problems.length = 0;  // the 401 above is logged by the browser as a failed request

    await page.fill("#token", token);
    await page.click("#login-form button");
    await page.waitForSelector("#alerts tbody tr");
    const all = await page.locator("#alerts tbody tr").count();
    step(`logged in; ${all} alerts, model ${await page.textContent("#model-version")}`);
    const before = await page.textContent("#model-version");

    await page.selectOption("#filter-class", fromClass);
    await page.click("#filters button[type=submit]");
    await page.waitForFunction((c) => {
      const rows = [...document.querySelectorAll("#alerts tbody tr")];
      return rows.length > 0 && rows.every((r) => r.cells[2].textContent === c);
    }, fromClass);
    const shown = await page.locator("#alerts tbody tr").count();
    step(`filtered by class ${fromClass}: ${shown} alerts`);
    if (shown < 5) throw new Error(`only ${shown} alerts of ${fromClass} to label`);

    await page.locator("#alerts tbody tr").first().click();
    await page.waitForSelector("#detail dl.fields");
    step("the flows behind the first alert: " + (await page.locator("#detail table tbody tr").count()) + " recent flows of its host");

    for (let i = 0; i < 5; i++) await page.locator("#alerts tbody input[type=checkbox]").nth(i).check();
    if ((await page.textContent("#selected-count")) !== "5") throw new Error("five flows are not selected");
    await page.fill("#label", "C2 beacon");
    await page.click("#label-selected");
    await page.waitForSelector("#adapt-result.ok");
    const result = await page.textContent("#adapt-result");
    const version = /New version ([0-9a-f]{12})/.exec(result)[1];
    step("labelled five flows: " + result);
    await page.waitForFunction((v) => document.querySelector("#model-version").textContent === v, version);
    const current = await page.textContent("#versions tr.current td.mono");
    if (current !== version) throw new Error(`the versions table shows ${current} in use, not ${version}`);
    if (!(await page.textContent("#classes")).includes("C2 beacon")) throw new Error("the new class is not listed");
    step(`the new version ${version} is in use (was ${before}); the versions table and classes show it`);

    // A sensor's capture is scored again, now with the new version; the page is reloaded: the
    // token is kept for the session, and the alerts show the new class.
    const scored = await fetch(new URL("/v1/score", url), {
      method: "POST", headers: { "Authorization": "Bearer " + token, "Content-Type": "text/csv" },
      body: fs.readFileSync(rescore) });
    if (!scored.ok) throw new Error("scoring again failed: HTTP " + scored.status);
    step("the capture scored again with " + (await scored.json()).version);
    await page.reload();
    await page.waitForSelector("#alerts tbody tr");
    if (!(await page.locator("#login").isHidden())) throw new Error("the token was not kept for the session");
    await page.selectOption("#filter-class", "");
    await page.click("#filters button[type=submit]");
    await page.waitForFunction(() => [...document.querySelectorAll("#alerts tbody tr td:nth-child(3)")].some((td) => td.textContent === "C2 beacon"));
    await page.locator("#alerts tbody tr", { hasText: "C2 beacon" }).first().click();
    await page.waitForSelector("#detail dl.fields");
    step("after a reload (no new login) the alerts show C2 beacon");
    await page.screenshot({ path: screenshot, fullPage: true });
    step("screenshot " + screenshot);

    await page.click(`#versions button[data-version="${before}"]`);
    await page.waitForFunction((v) => document.querySelector("#model-version").textContent === v, before);
    step("rolled back to " + before);
    if (problems.length) throw new Error(problems.join("; "));
    console.log("console: PASS");
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error("console: FAIL: " + e.message);
  process.exit(1);
});
