/**
 * REST steps the end-to-end suites and the benchmarks share: templates, jobs and runs
 * over the public API of any server a test talks to (a server process or an in-process app).
 */
import { eventually, expectJson } from './server-process';

/** Anything that sends a request with the test key and an optional actor. */
export interface RestClient {
  request(path: string, init?: RequestInit & { actor?: string }): Promise<Response>;
}

/** The fields of `Run` (API.md) the tests read. */
export interface Run {
  id: string;
  jobId: string;
  number: number;
  status: string;
  exitCode: number | null;
  requestedBy: string;
  requestedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  outputBytes: number;
  reason: string | null;
  pid?: number;
}

export const JSON_HEADERS = { 'content-type': 'application/json' };

/** POSTs JSON and returns the answer, failing unless it has the expected status. */
export async function postJson<T>(client: RestClient, path: string, body: unknown, status: number, actor?: string): Promise<T> {
  const init = { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(body), ...(actor !== undefined ? { actor } : {}) };
  return expectJson<T>(await client.request(path, init), status);
}

/** GETs JSON, failing unless the answer is 200. */
export async function getJson<T>(client: RestClient, path: string): Promise<T> {
  return expectJson<T>(await client.request(path), 200);
}

/** Creates a template and a job of the same name that uses it; returns the job id. */
export async function createJob(client: RestClient, name: string, interpreter: string, body: string): Promise<string> {
  await postJson(client, '/api/scripts', { name, interpreter, body }, 201);
  const job = await postJson<{ id: string }>(client, '/api/jobs', { name, scriptId: name }, 201);
  return job.id;
}

/**
 * Creates a bash template and a job of the same name on it with more `fields` (artifact
 * patterns, `runsOn`, …) and input `files` attached; returns the job id.
 */
export async function createJobWithFiles(
  client: RestClient,
  name: string,
  body: string,
  fields: Record<string, unknown> = {},
  files: Array<{ name: string; bytes: Buffer }> = [],
): Promise<string> {
  await postJson(client, '/api/scripts', { name, interpreter: 'bash', body }, 201);
  const created = await postJson<{ id: string }>(client, '/api/jobs', { name, scriptId: name, ...fields }, 201);
  if (files.length > 0) {
    const form = new FormData();
    for (const file of files) form.append('file', new Blob([file.bytes]), file.name);
    const attached = await client.request(`/api/jobs/${created.id}/files`, { method: 'POST', body: form });
    if (attached.status !== 201) throw new Error(`Attaching files answered ${attached.status}: ${await attached.text()}`);
  }
  return created.id;
}

/** Requests a run of a job (`202`). */
export function requestRun(client: RestClient, jobId: string, body: object = {}, actor?: string): Promise<Run> {
  return postJson<Run>(client, `/api/jobs/${jobId}/runs`, body, 202, actor);
}

/** Polls a run until it has finished. */
export function waitForRun(client: RestClient, runId: string, timeoutMs = 15_000): Promise<Run> {
  return eventually(async () => {
    const current = await getJson<Run>(client, `/api/runs/${runId}`);
    return current.finishedAt !== null ? current : undefined;
  }, timeoutMs, `run ${runId} to finish`);
}

/** Requests a run and waits for it to finish; `sentAt` is when the request left. */
export async function runAndWait(client: RestClient, jobId: string, timeoutMs = 120_000): Promise<{ run: Run; sentAt: number }> {
  const sentAt = Date.now();
  const requested = await requestRun(client, jobId);
  return { run: await waitForRun(client, requested.id, timeoutMs), sentAt };
}

/** The bytes of a run's output. */
export async function outputOf(client: RestClient, runId: string): Promise<Buffer> {
  const response = await client.request(`/api/runs/${runId}/output`);
  if (response.status !== 200) throw new Error(`Expected HTTP 200 for the output of ${runId}, got ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}
