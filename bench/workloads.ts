/**
 * The large outputs the benchmarks run, shared by the embedded-store and the
 * EventStoreDB-double figures so both measure the same commands.
 */
export const TEXT_LINES_100MB = `import sys
out = sys.stdout
for i in range(1_310_000):
    out.write(f"{i:09d} INFO tests::module_{i % 977}::case_{i % 131} passed in {i % 1000} ms -- all good here\\n")
`;
export const YES_100MB = `yes 'EnderCompute 0123456789 abcdefghijklmnopqrstuvwxyz' | head -c 100000000\n`;
/** 50 MB of random bytes as base64 text: text that barely compresses (seeded, so file and output can be compared). */
export const RANDOM_BASE64_50MB = `import base64, random, sys
random.seed(11)
sys.stdout.buffer.write(base64.encodebytes(random.randbytes(37_000_000)))
`;
/** Incompressible bytes, the same on every run (a seeded generator), so the file and the stored output can be compared. */
export const RANDOM_20MB = `import random, sys
random.seed(7)
sys.stdout.buffer.write(random.randbytes(20_000_000))
`;

