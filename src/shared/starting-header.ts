/**
 * The header every answer of a starting server carries (`StartingGate`, with `503` and
 * `Retry-After`), with the value `starting`: it tells a client that the answer came
 * from the gate, which kept nothing of the request, so that even a `POST` may be sent
 * again (the CLI's `ApiClient` does). A proxy's own 503 does not carry it.
 */
export const STARTING_HEADER = 'EnderCompute-Status';
