/**
 * The Temporal Web UI as an operator uses it, in headless Chromium (Debian `chromium`, driven by playwright-core)
 * against the dev server's UI that `npm test` started: find the runs of a pipeline by the Pipeline search attribute,
 * see their status, add the product's search attributes as list columns, open a run and read its summary, search
 * attributes and `status` query. Screenshots go to test-output/web-ui/ for a human to look at.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { startRetrain } from '../../client/run';
import { scoringServiceWorkflowId } from '../../common/models';
import { serviceKeyOf } from '../../config/service-key';
import { statusQuery } from '../../workflows/queries';
import { uniqueId } from '../helpers/temporal';
import { liveJob, seededServices } from '../helpers/world';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

const UI = process.env.TEMPORAL_UI_URL;
// `npm test` found or installed it (infra/chromium.ts) and says where.
const CHROMIUM = process.env.ML_CHROMIUM_PATH ?? '/usr/bin/chromium';
// Root may not use Chromium's sandbox; the rest keeps a closed-network machine from trying to phone home.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('Temporal Web UI', () => {
  let env: Stack;
  let browser: BrowserContext;
  let page: Page;
  let profile: string;
  let shots: string;
  const pipeline = uniqueId('WebUi');
  let okId: string;
  let failedId: string;
  let jobId: string;

  beforeAll(async () => {
    // Never skipped: an external server (TEMPORAL_ADDRESS) without a UI is a setup error to fix, not a pass.
    if (!UI)
      throw new Error(
        'no Temporal Web UI to test: TEMPORAL_ADDRESS points at a server without one; set TEMPORAL_UI_URL',
      );
    env = await startStack();
    const ok = await startRetrain(env.t.client, env.input({ pipeline }), {
      taskQueue: env.taskQueue,
      workflowId: `retrain-${pipeline}-ok`,
    });
    jobId = ((await ok.result()) as { jobId: string }).jobId;
    okId = ok.workflowId;
    env.emu.setJobFaults({ failNext: { count: 1, details: 'Error 0001: Column names not found' } });
    const failed = await startRetrain(env.t.client, env.input({ pipeline }), {
      taskQueue: env.taskQueue,
      workflowId: `retrain-${pipeline}-failed`,
    });
    await failed.result().catch(() => undefined);
    failedId = failed.workflowId;

    shots = join(process.env.ML_TEST_OUTPUT_DIR ?? join(__dirname, '..', '..', 'test-output'), 'web-ui');
    await mkdir(shots, { recursive: true });
    // A fresh profile: no column layout or saved view from an earlier run can make the test pass or fail.
    profile = await mkdtemp(join(tmpdir(), 'chromium-profile-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      // Wide enough for the added search-attribute columns.
      viewport: { width: 1920, height: 900 },
    });
    page = await browser.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    await env?.close();
  });

  const rowOf = (id: string) => page.locator('tr, [role="row"]').filter({ hasText: id }).first();

  test('when the runs of a pipeline are searched by the Pipeline attribute, then the list shows each with its status', async () => {
    const query = encodeURIComponent(`Pipeline="${pipeline}"`);
    // The list is a visibility query, eventually consistent: reload until both runs are listed.
    for (let i = 0; ; i++) {
      await page.goto(`${UI}/namespaces/default/workflows?query=${query}`, { waitUntil: 'networkidle' });
      const listed = await rowOf(failedId)
        .waitFor({ timeout: 3000 })
        .then(() => true)
        .catch(() => false);
      if (listed || i >= 5) break;
    }
    await rowOf(okId).waitFor({ timeout: 10_000 });
    await expectText(rowOf(okId), 'Completed');
    await expectText(rowOf(failedId), 'Failed');
    // Only this pipeline's runs: the search attribute filtered the list.
    await expectText(page.locator('body'), /\b2\s+Workflows\b/);
  });

  test('when the Pipeline, Phase and TrainingJobId columns are added, then each row shows them', async () => {
    await page.getByTestId('workflows-summary-table-configuration-button').click();
    await page.getByTestId('orderable-list-item-Run ID-remove-button').click();
    for (const name of ['Pipeline', 'Phase', 'TrainingJobId']) {
      await page.getByTestId(`orderable-list-item-${name}-add-button`).click();
    }
    await page.getByTestId('drawer-close-button').click();
    await page.getByText('Configure Workflows Table').waitFor({ state: 'hidden' });
    const headers = await page.locator('th').allInnerTexts();
    expect(headers.map((h) => h.trim())).toEqual(expect.arrayContaining(['Pipeline', 'Phase', 'TrainingJobId']));
    await expectText(rowOf(okId), pipeline);
    await expectText(rowOf(okId), 'Succeeded');
    await expectText(rowOf(okId), jobId);
    await expectText(rowOf(failedId), 'Failed');
    await page.screenshot({ path: join(shots, 'runs-list.png') });
  });

  test("when a run is opened, then its page shows the status, the summary and the product's search attributes", async () => {
    await rowOf(okId).getByRole('link', { name: okId }).click();
    await page.waitForURL(/\/workflows\/retrain-/);
    await expectText(page.locator('main'), 'Completed');
    await expectText(page.locator('main'), okId);

    await page.getByText('User Metadata', { exact: true }).click();
    // The UI renders summary and details (Temporal markdown) in sandboxed iframes.
    const summary = 'Retrain trainingEndpoint → update updatableScoringEndpoint2, classicScoringEndpoint';
    await expectText(page.locator('main'), 'Summary');
    await expectFrameText(page, summary);
    await expectFrameText(page, `Pipeline ${pipeline}: BES job on trainingEndpoint`);
    await page.screenshot({ path: join(shots, 'run-summary.png') });

    await page.getByText('Search Attributes', { exact: true }).click();
    await expectText(page.locator('main'), `"Pipeline": "${pipeline}"`);
    await expectText(page.locator('main'), '"Phase": "Succeeded"');
    await expectText(page.locator('main'), `"TrainingJobId": "${jobId}"`);
    await page.screenshot({ path: join(shots, 'run-search-attributes.png') });
  });

  test('when the status query is run from the Queries tab, then it answers with the phase and the BES job', async () => {
    await page.getByText('Queries', { exact: true }).click();
    // The query list comes from the worker (the workflow's registered handlers); pick `status` by name.
    await page.getByTestId('query-select-button').click();
    await page.getByRole('option', { name: 'status', exact: true }).click();
    await page.getByRole('button', { name: /Run Query|Refresh Query/ }).click();
    // The status query's own fields (the other query, `recovery`, has neither `phase` nor `besStatus`).
    await expectText(page.getByTestId('query-result'), '"phase": "Succeeded"');
    await expectText(page.getByTestId('query-result'), '"besStatus": "Finished"');
    await expectText(page.getByTestId('query-result'), `"jobId": "${jobId}"`);
    await page.screenshot({ path: join(shots, 'run-status-query.png') });
  });

  test('when a run waits for approval, then its page shows the phase and how to approve; the scoring service page shows the live model and lineage', async () => {
    const waiting = await startRetrain(
      env.t.client,
      env.input({ pipeline, deployment: { approval: { required: true, timeout: '01:00:00' } } }),
      { taskQueue: env.taskQueue, workflowId: `retrain-${pipeline}-approval` },
    );
    for (let i = 0; i < 600; i++) {
      const s = await waiting.query(statusQuery).catch(() => undefined);
      if (s?.phase === 'AwaitingApproval') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.goto(`${UI}/namespaces/default/workflows/${encodeURIComponent(waiting.workflowId)}`);
    await expectText(page.locator('main'), 'Running');
    await page.getByText('User Metadata', { exact: true }).click();
    await expectFrameText(page, 'Awaiting approval');
    await expectFrameText(page, `retrain approve ${waiting.workflowId}`);
    await page.getByText('Search Attributes', { exact: true }).click();
    await expectText(page.locator('main'), '"Phase": "AwaitingApproval"');
    await page.screenshot({ path: join(shots, 'run-awaiting-approval.png') });
    await waiting.terminate('web UI test done');

    // The ARM scoring service's own workflow: its details name the live model's BES job (the ok run's).
    const service = scoringServiceWorkflowId(serviceKeyOf(env.emu.urls.armUpdateResource));
    expect(liveJob(env.emu, seededServices(env.emu).arm)).toBe(jobId);
    await page.goto(`${UI}/namespaces/default/workflows/${encodeURIComponent(service)}`);
    await expectText(page.locator('main'), 'Running');
    await page.getByText('User Metadata', { exact: true }).click();
    await expectFrameText(page, 'Scoring service');
    await expectFrameText(page, jobId);
    await page.screenshot({ path: join(shots, 'scoring-service.png') });
  });
});

const matches = (seen: string, text: string | RegExp) =>
  typeof text === 'string' ? seen.includes(text) : text.test(seen);

/** Wait for text to appear (the UI renders asynchronously), failing with what the element did show. */
async function expectText(
  locator: ReturnType<Page['locator']>,
  text: string | RegExp,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = '';
  while (Date.now() < deadline) {
    seen = await locator.innerText().catch(() => '');
    if (matches(seen, text)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`expected to see '${String(text)}', saw:\n${seen.slice(0, 2000)}`);
}

/** The same, over the page's frames: markdown fields are rendered in iframes. */
async function expectFrameText(page: Page, text: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen: string[] = [];
  while (Date.now() < deadline) {
    seen = await Promise.all(
      page.frames().map((f) =>
        f
          .locator('body')
          .innerText({ timeout: 1000 })
          .catch(() => ''),
      ),
    );
    if (seen.some((t) => t.includes(text))) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`expected a frame to show '${text}', frames showed:\n${seen.join('\n---\n').slice(0, 2000)}`);
}
