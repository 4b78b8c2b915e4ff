// Interop helper for tether's JWE tokens (runtime/tests/jose_interop.rs drives it).
//
//   node jose-interop.mjs encrypt   stdin: claims JSON        stdout: compact JWE
//   node jose-interop.mjs decrypt   stdin: compact JWE        stdout: {"payload": .., "protectedHeader": ..}
//
// The key is read from the JOSE_INTEROP_KEY environment variable (32 bytes, base64url), and an optional
// key id for `encrypt` from JOSE_INTEROP_KID. Everything is what a Node back end would write with `jose`:
// `CompactEncrypt` / `compactDecrypt` with `alg: dir`, `enc: A256GCM`.
import { CompactEncrypt, compactDecrypt, base64url } from "jose";

const [mode] = process.argv.slice(2);
const rawKey = process.env.JOSE_INTEROP_KEY;
if (!rawKey) {
  console.error("JOSE_INTEROP_KEY is not set");
  process.exit(2);
}
const key = base64url.decode(rawKey);

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = Buffer.concat(chunks).toString("utf8").trim();

if (mode === "encrypt") {
  const header = { alg: "dir", enc: "A256GCM" };
  if (process.env.JOSE_INTEROP_KID) header.kid = process.env.JOSE_INTEROP_KID;
  const token = await new CompactEncrypt(new TextEncoder().encode(input))
    .setProtectedHeader(header)
    .encrypt(key);
  process.stdout.write(token);
} else if (mode === "decrypt") {
  const { plaintext, protectedHeader } = await compactDecrypt(input, key, {
    keyManagementAlgorithms: ["dir"],
    contentEncryptionAlgorithms: ["A256GCM"],
  });
  const payload = JSON.parse(new TextDecoder().decode(plaintext));
  process.stdout.write(JSON.stringify({ payload, protectedHeader }));
} else {
  console.error(`unknown mode ${JSON.stringify(mode)}: use encrypt or decrypt`);
  process.exit(2);
}
