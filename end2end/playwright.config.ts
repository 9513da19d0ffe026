import { defineConfig } from '@playwright/test';
import * as path from 'path';
import * as os from 'os';
import * as fs from 'fs';

// Every spec runs twice: server-rendered only (JavaScript off) and hydrated.
// Each mode gets its own Burrow with its own fresh data directory, so both
// walk the first-run setup from the start, reading the setup token from the
// data directory as an operator would.
// The config is evaluated again in every worker: create the run's directory
// once and hand it down through the environment.
const root = (process.env.BURROW_E2E_ROOT ??= fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-e2e-')));
const modes = [
  { name: 'no-js', javaScriptEnabled: false, port: 18080 },
  { name: 'js', javaScriptEnabled: true, port: 18081 },
].map((m) => ({
  ...m,
  dataDir: fs.mkdirSync(path.join(root, m.name), { recursive: true }) ?? path.join(root, m.name),
  baseURL: `http://127.0.0.1:${m.port}`,
}));

const chromium = {
  executablePath: '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
};

export default defineConfig({
  testDir: './tests',
  // Specs within a mode build on each other (setup before sign-in).
  workers: 1,
  fullyParallel: false,
  timeout: 60_000,
  reporter: [['list']],
  outputDir: './test-results',
  use: {
    launchOptions: chromium,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
  },
  projects: modes.map((m) => ({
    name: m.name,
    use: { baseURL: m.baseURL, javaScriptEnabled: m.javaScriptEnabled },
    metadata: { dataDir: m.dataDir },
    testIgnore: m.javaScriptEnabled ? undefined : /.*\.hydrate\.spec\.ts/,
  })),
  webServer: modes.map((m) => ({
    command: process.env.BURROW_BIN ?? 'target/debug/burrow',
    cwd: '..',
    url: `${m.baseURL}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    env: {
      BURROW_LISTEN: `127.0.0.1:${m.port}`,
      BURROW_DATA_DIR: m.dataDir,
      BURROW_SITE_ROOT: 'target/site',
      // Updates settle for seconds, not a minute (09-update-rollout).
      BURROW_UPDATE_SETTLE_S: '3',
      BURROW_UPDATE_MIN_HEALTHY_S: '2',
      BURROW_UPDATE_DEADLINE_S: '30',
    },
    stdout: 'ignore' as const,
    stderr: 'pipe' as const,
  })),
});
