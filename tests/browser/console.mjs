// End-to-end test of the scimd console in headless Chromium, as a customer's
// admin meets it: sign in, create a tenant, generate a token (seen once,
// gone on reload), an identity provider pushes a group over SCIM and the
// admin maps it, a refused SCIM request's detail shows in activity, a
// webhook delivery is retried, a portal link opens a tenant's session once.
// Every screen is checked at 1280×800 and 390×844 (no sideways scrolling, a
// label on every control, no Content-Security-Policy violation) and, with
// SHOTS=DIR, photographed there.
//
//   SCIMD_URL=http://127.0.0.1:8080 ADMIN_TOKEN=scimd_… node console.mjs
//
// The server must allow webhooks to loopback (--webhook-allow-private-targets):
// the test's receiver listens on 127.0.0.1. Nothing leaves this machine.

import { chromium } from "playwright-core";
import http from "node:http";
import fs from "node:fs";
import path from "node:path";

const ROOT = process.env.SCIMD_URL ?? "http://127.0.0.1:8080";
const OPERATOR = process.env.ADMIN_TOKEN;
const SHOTS = process.env.SHOTS;
const TENANT = process.env.TENANT ?? "browser-co";
if (!OPERATOR) throw new Error("ADMIN_TOKEN (an operator admin token) is required");

let failures = 0;
function check(ok, what) {
  if (ok) {
    console.log(`ok    ${what}`);
  } else {
    failures += 1;
    console.log(`FAIL  ${what}`);
  }
}

async function api(method, url, body, token = OPERATOR, type = "application/json") {
  const resp = await fetch(`${ROOT}${url}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": type },
    body: body === undefined ? undefined : type.includes("json") ? JSON.stringify(body) : body,
  });
  const text = await resp.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: resp.status, json, text };
}

// A product's webhook endpoint on loopback that counts what it is sent.
const received = [];
const receiver = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => { body += c; });
  req.on("end", () => { received.push(body); res.writeHead(204); res.end(); });
});
await new Promise((ok) => receiver.listen(0, "127.0.0.1", ok));
const hookUrl = `http://127.0.0.1:${receiver.address().port}/hooks/scim`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});

const cspViolations = [];
async function newPage(viewport) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on("console", (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text()); });
  page.on("pageerror", (e) => cspViolations.push(`page error: ${e.message}`));
  return { context, page };
}

async function waitFor(what, probe, ms = 10000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  check(false, what);
  return false;
}

const { page } = await newPage({ width: 1280, height: 800 });

// Signing in, by keyboard.
await page.goto(`${ROOT}/console`);
check(page.url().endsWith("/console/sign-in"), "the console asks to sign in");
let reached = false;
for (let i = 0; i < 8 && !reached; i += 1) {
  await page.keyboard.press("Tab");
  reached = await page.evaluate(() => document.activeElement?.id === "token");
}
check(reached, "the token field is reached by keyboard");
await page.keyboard.type(OPERATOR);
await page.keyboard.press("Enter");
await page.waitForURL(/\/console\/tenants$/);
check(true, "signed in with an operator token");

// A tenant, made on the tenants screen.
await page.getByLabel("New tenant's name").fill(TENANT);
await page.getByRole("button", { name: "Create tenant" }).click();
await page.waitForURL(new RegExp(`/console/t/${TENANT}$`));
check((await page.textContent("main")).includes("created"), "the tenant is created and its connect screen shown");
check((await page.textContent("main")).includes("Waiting for the first request"), "no request has come yet");
// The server also serves a vendor's old path (CI starts it with --scim-path-prefix): the connect screen lists it.
const others = await page.locator("#other-base-urls").textContent();
check(others.includes(`/api/v1/SCIM/SCIMOkta/${TENANT}`) && others.includes("/api/v1/SCIM/SCIMOkta"),
  "the connect screen lists the other base URLs the server offers");

// The product's workspaces and roles (the console shows them; the admin API makes them here).
await api("POST", `/admin/v1/tenants/${TENANT}/workspaces`, { name: "main" });
for (const [name, rank] of [["Viewer", 1], ["Editor", 2]]) {
  await api("POST", `/admin/v1/tenants/${TENANT}/roles`, { name, rank, provisionable: true });
}

// A token: the default access chosen first, an expiry picked, shown once.
await page.goto(`${ROOT}/console/t/${TENANT}?idp=okta`);
await page.getByLabel("What a new user gets").selectOption({ label: "The role Viewer in main" });
await page.getByLabel("Token name").fill("okta");
const nextYear = new Date(Date.now() + 365 * 86400 * 1000).toISOString().slice(0, 10);
await page.getByLabel(/Expires after/).fill(nextYear);
await page.getByRole("button", { name: "Generate token" }).click();
await page.waitForSelector("#secret-value");
const token = (await page.textContent("#secret-value")).trim();
check(token.startsWith("scimd_") && token.length === 70, "the new token is shown");
check((await page.textContent("main")).includes("expires at"), "with its expiry");
const policy = await api("GET", `/admin/v1/tenants/${TENANT}/policy`);
check(policy.json?.on_create === "grant_default", "the default access chosen before the token was saved");
await page.reload();
check((await page.locator("#secret-value").count()) === 0 && !(await page.content()).includes(token),
  "reloaded, the token is gone");

// The identity provider at work over SCIM with that token.
const scim = (method, url, body) => api(method, `/scim/v2/${TENANT}${url}`, body, token, "application/scim+json");
const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ann = await scim("POST", "/Users", { schemas: [USER], userName: "ann@browser.example", active: true });
check(ann.status === 201, "the IdP creates a user");
const group = await scim("POST", "/Groups",
  { schemas: [GROUP], displayName: "Engineering", members: [{ value: ann.json.id }] });
check(group.status === 201, "the IdP pushes a group");
const clash = await scim("POST", "/Users", { schemas: [USER], userName: "ann@browser.example" });
check(clash.status === 409, "a second user with the same userName is refused");

// The admin maps the pushed group on the groups screen.
await page.getByRole("link", { name: "Pushed groups" }).click();
await page.waitForURL(/\/groups$/);
await page.getByLabel("Role for Engineering").selectOption({ label: "Editor" });
await page.getByRole("button", { name: "Map Engineering" }).click();
await page.waitForSelector(".notice");
const access = await api("GET", `/admin/v1/tenants/${TENANT}/users/${ann.json.id}/access`);
check(JSON.stringify(access.json?.roles ?? []).includes("Editor"), "the group's members got the mapped role");
check((await page.textContent("main")).includes("Editor in main"), "the mapping is shown in place");

// The refused request, with the exact detail the IdP was shown.
await page.getByRole("link", { name: "Activity" }).click();
await waitFor("the refused request appears in activity", async () => {
  await page.goto(`${ROOT}/console/t/${TENANT}/activity?status=4xx`);
  return (await page.textContent("main")).includes(clash.json.detail);
});
check((await page.textContent("main")).includes("uniqueness"), "with its scimType");

// Users: found by name, with access and where it comes from.
await page.getByRole("link", { name: "Users" }).click();
await page.getByLabel("userName starts with").fill("ann");
await page.getByRole("button", { name: "Show" }).click();
await page.getByRole("link", { name: "ann@browser.example" }).click();
await waitFor("a user's access shows where it comes from", async () =>
  (await page.textContent("main")).includes("the group Engineering"));
const userPage = new URL(page.url()).pathname;

// Policy: a choice saved from its form; re-apply previewed before it runs.
await page.getByRole("link", { name: "Policy" }).click();
await page.getByLabel("When a user is deactivated").selectOption("none");
await page.getByLabel("When the identity provider sends attributes no schema defines").selectOption("reject");
await page.getByRole("button", { name: "Save the policy" }).click();
await page.waitForSelector(".notice");
const saved = await api("GET", `/admin/v1/tenants/${TENANT}/policy`);
check(saved.json?.on_deactivate === "none", "a policy choice is saved from the console");
check(saved.json?.unknown_attributes === "reject", "what happens to unknown attributes is saved from the console");
// Back to the default, so the identity provider's later requests in this test are not refused.
await page.getByLabel("When the identity provider sends attributes no schema defines").selectOption("ignore");
await page.getByRole("button", { name: "Save the policy" }).click();
await page.waitForSelector(".notice");
check((await api("GET", `/admin/v1/tenants/${TENANT}/policy`)).json?.unknown_attributes === "ignore",
  "and set back to ignore");
await page.getByRole("button", { name: "Preview re-apply" }).click();
// (The form's own text says "would change" too: wait for the preview's heading.)
await page.waitForSelector("h3:has-text(\"user(s) would change\")");
check((await page.locator("button", { hasText: "Re-apply now" }).count()) === 1, "re-apply shows its dry run first");

// Licence types with their seats.
await page.getByRole("link", { name: "Licences" }).click();
await page.getByLabel("Name").fill("Basic");
await page.getByLabel(/Seats/).fill("10");
await page.getByRole("button", { name: "Add licence type" }).click();
await page.waitForSelector("progress");
check((await page.textContent("main")).includes("of 10"), "a licence type shows its seats in use");

// A webhook endpoint, its secret once, a delivery retried.
await page.getByRole("link", { name: "Webhooks" }).click();
await page.getByLabel("Endpoint URL").fill(hookUrl);
await page.getByRole("button", { name: "Add endpoint" }).click();
await page.waitForSelector("#secret-value");
check((await page.textContent("#secret-value")).trim().startsWith("whsec_"), "the signing secret is shown once");
const hookPage = page.url();
await scim("POST", "/Users", { schemas: [USER], userName: "bob@browser.example" });
await waitFor("a delivery reaches the receiver", async () => received.length >= 1);
await waitFor("the delivery is listed as delivered", async () => {
  await page.goto(hookPage);
  return (await page.locator("button", { hasText: "Retry" }).count()) > 0;
});
const before = received.length;
await page.locator("button", { hasText: "Retry" }).first().click();
await page.waitForSelector("text=will be sent again");
await waitFor("the retried delivery is sent again", async () => received.length > before);
// A delivery's own page: every try with the receiver's answer.
await page.goto(hookPage);
await page.locator("table a", { hasText: "user.created" }).first().click();
await page.waitForSelector("text=Every try, oldest first");
const deliveryPage = new URL(page.url()).pathname;
check((await page.locator("tbody tr").count()) >= 1 && (await page.textContent("tbody")).includes("204"),
  "a delivery's page lists its tries with the receiver's answer");
// A test event: sent now, the receiver's answer shown; then the endpoint edited, its secret kept.
await page.goto(hookPage);
const beforeTest = received.length;
await page.getByRole("button", { name: "Send test event" }).click();
await page.waitForSelector(".notice");
check((await page.textContent(".notice")).includes("delivered, answered 204"), "a test event is sent and its answer shown");
check(received.slice(beforeTest).some((b) => JSON.parse(b).type === "webhook.test"), "the receiver got the webhook.test event");
await page.goto(hookPage);
await page.getByLabel("Description (up to 500 characters)").fill("the product's provisioning worker");
await page.getByLabel("Most deliveries in flight at once (1 to 64)").fill("4");
await page.getByRole("button", { name: "Save the endpoint" }).click();
await page.waitForSelector(".notice");
const edited = await api("GET", `/admin/v1/tenants/${TENANT}/webhooks`);
const hook = (edited.json?.data ?? []).find((h) => h.url === hookUrl);
check(hook?.description === "the product's provisioning worker" && hook?.max_in_flight === 4, "the endpoint is edited from the console");

// A portal link: the product's backend asks for it; it opens this tenant's console once.
const link = await api("POST", `/admin/v1/tenants/${TENANT}/portal-links`, { return_url: "https://product.example/settings" });
check(link.status === 201, "a portal link is made");
const portal = await newPage({ width: 1280, height: 800 });
await portal.page.goto(link.json.url);
await portal.page.getByRole("button", { name: "Open the console" }).click();
await portal.page.waitForURL(new RegExp(`/console/t/${TENANT}$`));
check((await portal.page.textContent("header")).includes("portal link"), "the link opened a session of the tenant");
await portal.page.goto(`${ROOT}/console/tenants`);
check(portal.page.url().endsWith(`/console/t/${TENANT}`), "a portal session sees its tenant only");
const again = await newPage({ width: 1280, height: 800 });
await again.page.goto(link.json.url);
await again.page.getByRole("button", { name: "Open the console" }).click();
check((await again.page.textContent("main")).includes("works once"), "the link cannot be used twice");

// Every screen at both sizes: no sideways scroll, every control labelled, and (with SHOTS) a picture.
const screens = [
  ["tenants", "/console/tenants"],
  ["connect", `/console/t/${TENANT}?idp=entra`],
  ["policy", `/console/t/${TENANT}/policy`],
  ["roles", `/console/t/${TENANT}/roles`],
  ["licences", `/console/t/${TENANT}/licences`],
  ["users", `/console/t/${TENANT}/users`],
  ["user", userPage],
  ["credentials", `/console/t/${TENANT}/credentials`],
  ["groups", `/console/t/${TENANT}/groups`],
  ["activity", `/console/t/${TENANT}/activity`],
  ["webhooks", `/console/t/${TENANT}/webhooks`],
  ["webhook-deliveries", new URL(hookPage).pathname],
  ["webhook-delivery", deliveryPage],
];
if (SHOTS) fs.mkdirSync(SHOTS, { recursive: true });
for (const [size, viewport] of [["1280x800", { width: 1280, height: 800 }], ["390x844", { width: 390, height: 844 }]]) {
  const { page: p } = await newPage(viewport);
  await p.goto(`${ROOT}/console/sign-in`);
  if (SHOTS) await p.screenshot({ path: path.join(SHOTS, `sign-in-${size}.png`), fullPage: true });
  await p.getByLabel("Admin token").fill(OPERATOR);
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.waitForURL(/\/console\/tenants$/);
  for (const [name, url] of screens) {
    await p.goto(`${ROOT}${url}`);
    const wide = await p.evaluate(() => document.documentElement.scrollWidth);
    check(wide <= viewport.width, `${name} at ${size} fits the width (${wide}px)`);
    const unlabelled = await p.evaluate(() => [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
      .filter((c) => c.labels.length === 0 && !c.getAttribute("aria-label")).map((c) => c.name || c.id));
    check(unlabelled.length === 0, `${name} at ${size}: every control has a label ${unlabelled.join(",")}`);
    if (SHOTS) await p.screenshot({ path: path.join(SHOTS, `${name}-${size}.png`), fullPage: true });
  }
}

// Signing out ends the session.
await page.goto(`${ROOT}/console/t/${TENANT}`);
await page.getByRole("button", { name: "Sign out" }).click();
await page.waitForURL(/\/console\/sign-in$/);
await page.goto(`${ROOT}/console/t/${TENANT}`);
check(page.url().includes("/console/sign-in"), "signed out, the console asks to sign in again");

check(cspViolations.length === 0, `no Content-Security-Policy violation or script error ${cspViolations.join(" | ")}`);
await browser.close();
receiver.close();
if (failures > 0) {
  console.log(`${failures} check(s) failed`);
  process.exit(1);
}
console.log("all console checks passed");
